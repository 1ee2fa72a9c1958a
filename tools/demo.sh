#!/usr/bin/env bash
# tools/demo.sh — the README's demo command. Installs what is missing (Debian, as root), builds the
# Windows race lab with MinGW-w64 and runs it under Wine: each documented DLL race, written once
# the raw way and once with modref, in real DLLs loaded by a real host. Idempotent.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
say() { printf '\n==> %s\n' "$*"; }

bash tools/setup-debian.sh
say "configure + build the race lab (windows-mingw preset; the first build compiles Abseil)"
cmake --preset windows-mingw >build-windows-mingw.configure.log 2>&1 || { tail -n 30 build-windows-mingw.configure.log; exit 1; }
rm -f build-windows-mingw.configure.log
cmake --build --preset windows-mingw --target racelab
# shellcheck source=tools/wine-session.sh
. tools/wine-session.sh
say "booting Wine (detached from pipes)"
modref_wine_start
say "running the race lab under Wine (the stress rows use 300 cycles here; the test command runs 2000)"
echo
/usr/lib/wine/wine64 build/windows-mingw/bin/racelab.exe --explain --stress-cycles 300 </dev/null
