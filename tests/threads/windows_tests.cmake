# Windows-only thread tests (filled in by the threads work).
