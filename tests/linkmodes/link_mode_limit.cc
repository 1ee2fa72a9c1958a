// link_mode_limit.exe — the mixed link mode's row: runs link_mode_host_mixed.exe (20 cycles) as a
// child process, bounded, and passes when the child FAILS, as the mixed mode does today (the thread
// that unloads the DLL faults in libgcc's emulated-TLS destructor, compiled into the DLL; the
// loader swallows the fault with the loader lock held, and the next LoadLibrary never returns).
// It fails when the child passes: the toolchain would then have changed, and docs/packaging.md and
// cmake/modrefLinkModeCheck.cmake (which refuses the mode) should be revisited.
#include <windows.h>

#include <chrono>
#include <cstdio>

#include "../support/test_support.h"

int main() {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  const auto log = modref_test::temp_file(L"link_mode_mixed");
  // 20 cycles take about 9 s in the supported modes here, and the host prints a line per cycle
  // (unbuffered, about 0.5 s apart). The hang on the loader lock is told by the log standing still
  // for kStall (20 times a cycle's time); kBound caps the whole run.
  constexpr auto kStall = std::chrono::seconds(10);
  constexpr auto kBound = std::chrono::seconds(120);
  const DWORD code = modref_test::run_child(
      modref_test::quoted(modref_test::sibling(L"link_mode_host_mixed.exe")) + L" 20", kBound, log,
      kStall);
  const std::string output = modref_test::read_file(log);
  ::DeleteFileW(log.c_str());
  std::printf("%s", output.c_str());
  if (code == 0) {
    std::printf(
        "link_mode_limit: the mixed runtime (static libgcc, shared winpthreads) passed: "
        "the toolchain changed; revisit docs/packaging.md and the configure-time check\n");
    return 1;
  }
  std::printf(
      "link_mode_limit: the mixed runtime failed as documented (%s, exit code %lu)\n",
      code == WAIT_TIMEOUT ? "hung on the loader lock: no new cycle for 10 s, killed" : "crashed",
      code);
  return 0;
}
