// contended_locks_host.exe <dll name> <cycles>
// Issue 9, item 8: threads that outlive a DLL must not carry per-thread state whose cleanup is
// that DLL's code. Each cycle loads the DLL, starts its contended_locks_start() (a worker and
// pool callbacks that block on object_pool and callback_group locks), calls FreeLibrary at once,
// waits (bounded) for the worker's "done" and for the DLL to unload. First the DLL's hand-written
// Win32 control (contended_locks_start_control: the same threads, callbacks and contention with
// an SRWLOCK) runs as many cycles, to measure what the toolchain and loader cost per cycle on
// their own; after the modref cycles, open handles must not have grown by more than that cost
// times the cycles plus a fixed slack.
// Exit code: 0 passed; 11 a cycle never finished; 12 the DLL never unloaded or handles grew;
// 13 a cycle lost borrows; 10 setup error. A crash ends the process with its exception code.
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../support/test_support.h"
#include "dlls/contended_locks_io.h"

namespace {

constexpr int kSetupError = 10;
constexpr int kHang = 11;
constexpr int kLeak = 12;
constexpr int kLostBorrows = 13;
// Bound on one cycle: about 1,000 borrows on a loaded 2-core machine under Wine take well under
// a second; only a thread stuck in a dead DLL or on the loader lock reaches this.
constexpr DWORD kCycleBoundMs = 30000;
// Handles that come and go with idle pool threads (the pool keeps a few for several seconds).
constexpr int kHandleSlack = 32;
// How long the final count may wait for idle pool threads to leave before growth is a leak.
constexpr int kSettleSeconds = 15;
constexpr int kWarmUpCycles = 3;
// Handles the control's count may move by without it being a per-cycle cost.
constexpr int kControlNoise = 8;

}  // namespace

int wmain(int argc, wchar_t** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: contended_locks_host <dll> <cycles>\n");
    return kSetupError;
  }
  std::setvbuf(stdout, nullptr, _IONBF, 0);  // every line reaches the log, even on a crash
  const wchar_t* dll_name = argv[1];
  const int cycles = std::wcstol(argv[2], nullptr, 10);
  const auto dll_path = modref_test::sibling(dll_name);

  contended_locks_io io;
  io.done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  auto run_cycle = [&](const char* entry, int cycle) -> int {
    io.borrows = 0;
    HMODULE dll = ::LoadLibraryW(dll_path.c_str());
    if (dll == nullptr) {
      std::printf("LoadLibrary failed: %lu\n", ::GetLastError());
      return kSetupError;
    }
    auto start = reinterpret_cast<DWORD (*)(contended_locks_io*)>(
        reinterpret_cast<void*>(::GetProcAddress(dll, entry)));
    if (start == nullptr || start(&io) != 0) return kSetupError;
    ::FreeLibrary(dll);  // at once: the worker's exit unloads the DLL
    if (::WaitForSingleObject(io.done, kCycleBoundMs) != WAIT_OBJECT_0) {
      std::printf("cycle %d: the worker did not finish within %lu ms\n", cycle, kCycleBoundMs);
      return kHang;
    }
    if (io.borrows != kBorrowsPerCycle) {
      std::printf("cycle %d: %ld borrows instead of %ld\n", cycle, static_cast<long>(io.borrows),
                  kBorrowsPerCycle);
      return kLostBorrows;
    }
    if (!modref_test::wait_until_unloaded(dll_name, std::chrono::milliseconds(kCycleBoundMs))) {
      std::printf("cycle %d: the DLL is still loaded %lu ms after its worker finished\n", cycle,
                  kCycleBoundMs);
      return kLeak;
    }
    return 0;
  };

  constexpr const char* kControl = "contended_locks_start_control";
  for (int i = 0; i < kWarmUpCycles; ++i) {
    if (int r = run_cycle(kControl, -1 - i); r != 0) return r;
  }
  const int control_start = modref_test::count_open_handles();
  for (int i = 0; i < cycles; ++i) {
    if (int r = run_cycle(kControl, -1); r != 0) return r;
  }
  // Pool threads coming and going move the count by a few handles: only growth beyond that noise
  // is a per-cycle cost.
  const double per_cycle =
      std::max(0, modref_test::count_open_handles() - control_start - kControlNoise) /
      static_cast<double>(cycles);
  std::printf("hand-written Win32 control: %.1f handles per cycle\n", per_cycle);

  const int baseline = modref_test::count_open_handles();
  for (int cycle = 0; cycle < cycles; ++cycle) {
    if (int r = run_cycle("contended_locks_start", cycle); r != 0) return r;
    if ((cycle + 1) % 10 == 0) {
      std::printf("cycle %d: %d handles\n", cycle + 1, modref_test::count_open_handles());
    }
  }
  const double allowed = per_cycle * cycles + kHandleSlack;
  int final_handles = modref_test::count_open_handles();
  const auto settle = std::chrono::steady_clock::now() + std::chrono::seconds(kSettleSeconds);
  while (final_handles - baseline > allowed && std::chrono::steady_clock::now() < settle) {
    ::Sleep(250);  // idle pool threads leave on their own schedule; a leak does not go away
    final_handles = modref_test::count_open_handles();
  }
  std::printf(
      "%d cycles of %ld contended borrows: every cycle unloaded; handles %d -> %d "
      "(%.1f per cycle; control %.1f; allowed %.0f in all)\n",
      cycles, kBorrowsPerCycle, baseline, final_handles,
      (final_handles - baseline) / static_cast<double>(cycles), per_cycle, allowed);
  if (final_handles - baseline > allowed) {
    std::printf("handle count grew beyond the hand-written control: per-thread state leaked\n");
    return kLeak;
  }
  return 0;
}
