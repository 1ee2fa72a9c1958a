// racelab_stress.exe <modref|raw> <cycles> [--leak-handle-on-purpose]
// The stress loop: LoadLibrary -> start 8 asynchronous operations -> FreeLibrary at once -> wait
// (bounded) until they finished and the DLL really unloaded, `cycles` times, with a CPU-load
// thread spinning on every core. Then checks that open handles and threads stayed flat.
// Exit code: 0 when every cycle unloaded and nothing grew; lab_leak (12) when a DLL stayed loaded
// or handles/threads grew; lab_hang (11) when operations never finished; a crash ends the process
// with its exception code (the raw build is expected to crash).
// --leak-handle-on-purpose leaks one event per cycle: the handle check must then turn red.
#include <windows.h>
#include <tlhelp32.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "../support/test_support.h"
#include "lab_io.h"
#include "stress_io.h"

namespace {

int count_threads() {
  HANDLE snapshot = ::CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
  if (snapshot == INVALID_HANDLE_VALUE) return -1;
  THREADENTRY32 entry{};
  entry.dwSize = sizeof(entry);
  int count = 0;
  const DWORD pid = ::GetCurrentProcessId();
  for (BOOL more = ::Thread32First(snapshot, &entry); more;
       more = ::Thread32Next(snapshot, &entry)) {
    if (entry.th32OwnerProcessID == pid) ++count;
  }
  ::CloseHandle(snapshot);
  return count;
}

// Thread-pool threads come and go on their own; allow them this much slack over the baseline.
constexpr int kThreadSlack = 8;
// Handles that the system keeps per pool thread and per cached object; a real leak of one handle
// per cycle exceeds this after a few dozen cycles.
constexpr int kHandleSlack = 24;
// Bounds that only a broken run reaches (Wine starts threads through wineserver; the CPU-load
// threads slow everything down on purpose).
constexpr DWORD kCycleBoundMs = 20000;
// Cycles of the control (and as many of warm-up before it).
constexpr int kControlCycles = 50;

}  // namespace

int wmain(int argc, wchar_t** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: racelab_stress <modref|raw> <cycles> [--leak-handle-on-purpose]\n");
    return lab_setup_error;
  }
  const bool raw = std::wstring(argv[1]) == L"raw";
  const int cycles = std::wcstol(argv[2], nullptr, 10);
  const bool leak_on_purpose = argc > 3 && std::wstring(argv[3]) == L"--leak-handle-on-purpose";
  const wchar_t* dll_name = raw ? L"racelab_stress_raw.dll" : L"racelab_stress_modref.dll";
  const auto dll_path = modref_test::sibling(dll_name);

  std::atomic<bool> stop_load{false};
  std::vector<std::thread> load;
  const unsigned load_threads =
      std::getenv("MODREF_STRESS_NO_LOAD") ? 0u : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < load_threads; ++i) {
    // Busy for about a millisecond, then yield the core for a moment: every core stays loaded and
    // the scheduler keeps preempting the loop's threads, without starving wineserver (which every
    // thread start and handle operation goes through under Wine).
    load.emplace_back([&] {
      while (!stop_load.load(std::memory_order_relaxed)) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
        while (std::chrono::steady_clock::now() < until) {
        }
        ::Sleep(0);
      }
    });
  }
  auto finish = [&](int code) {
    stop_load = true;
    for (auto& t : load) t.join();
    return code;
  };

  stress_io io;
  io.all_done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  // One cycle: load, start, free at once, wait for the operations and for the unload.
  auto run_cycle = [&](const char* entry, int cycle) -> int {
    io.completed = 0;
    HMODULE dll = ::LoadLibraryW(dll_path.c_str());
    if (dll == nullptr) return lab_setup_error;
    auto start = reinterpret_cast<DWORD (*)(stress_io*)>(
        reinterpret_cast<void*>(::GetProcAddress(dll, entry)));
    if (start == nullptr || start(&io) != 0) return lab_setup_error;
    ::FreeLibrary(dll);  // at once, as careless hosts do
    if (::WaitForSingleObject(io.all_done, kCycleBoundMs) != WAIT_OBJECT_0) {
      std::fprintf(stderr, "cycle %d: operations did not finish\n", cycle);
      return lab_hang;
    }
    if (!modref_test::wait_until_unloaded(dll_name, std::chrono::milliseconds(kCycleBoundMs))) {
      std::fprintf(stderr, "cycle %d: the DLL stayed loaded (a pin leaked)\n", cycle);
      return lab_leak;
    }
    if (leak_on_purpose && cycle >= 0) (void)::CreateEventW(nullptr, FALSE, FALSE, nullptr);
    return lab_passed;
  };

  // Warm-up, then the control: what the same operations written by hand cost per cycle.
  for (int i = 0; i < kControlCycles; ++i) {
    if (int r = run_cycle("stress_start_control", -1); r != lab_passed) return finish(r);
  }
  const int control_start = modref_test::count_open_handles();
  for (int i = 0; i < kControlCycles; ++i) {
    if (int r = run_cycle("stress_start_control", -1); r != lab_passed) return finish(r);
  }
  const double control_per_cycle =
      static_cast<double>(modref_test::count_open_handles() - control_start) / kControlCycles;

  const int baseline_handles = modref_test::count_open_handles();
  const int baseline_threads = count_threads();
  for (int cycle = 0; cycle < cycles; ++cycle) {
    if (int r = run_cycle("stress_start", cycle); r != lab_passed) return finish(r);
    if ((cycle + 1) % 250 == 0) {
      std::fprintf(stderr, "cycle %d: %d handles\n", cycle + 1, modref_test::count_open_handles());
    }
  }
  const int final_handles = modref_test::count_open_handles();
  const int final_threads = count_threads();
  const double allowed = control_per_cycle * cycles + kHandleSlack;
  std::printf(
      "%d cycles x %d operations: every cycle unloaded; handles %d -> %d (hand-written Win32 "
      "control: %.2f "
      "per cycle, allowed growth %.0f), threads %d -> %d\n",
      cycles, kStressOperations, baseline_handles, final_handles, control_per_cycle, allowed,
      baseline_threads, final_threads);
  if (final_handles - baseline_handles > allowed) {
    std::printf("handle count grew beyond the hand-written Win32 control: leak\n");
    return finish(lab_leak);
  }
  if (final_threads > baseline_threads + kThreadSlack) {
    std::printf("thread count grew: leak\n");
    return finish(lab_leak);
  }
  return finish(lab_passed);
}
