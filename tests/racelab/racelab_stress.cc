// racelab_stress.exe <modref|raw> <cycles> [--leak-handle-on-purpose] [--no-pipe-io]
// The stress loop: LoadLibrary -> start kStressOperations asynchronous operations (two of them a
// read and a write on a fresh named pipe) -> FreeLibrary at once -> complete the pipe operations
// from the client end -> wait (bounded) until everything finished and the DLL really unloaded,
// `cycles` times, with a CPU-load thread spinning on every core. Then checks that open handles and
// threads stayed flat.
// Exit code: 0 when every cycle unloaded and nothing grew; lab_leak (12) when a DLL never
// unloaded or handles/threads grew; lab_hang (11) when operations never finished; a crash ends the
// process with its exception code (the raw build is expected to crash).
// A cycle whose DLL is still loaded after 20 s is explained on the spot (the loader's count, and
// what modref still holds in the DLL) and then given 100 s more: unloading late is reported as
// slow, never unloading is a leak. Every line goes to standard output, which the race lab keeps
// and prints under the row when the row fails.
// --leak-handle-on-purpose leaks one event per cycle: the handle check must then turn red.
// --no-pipe-io runs the pipe kind's two operations as ordinary ones (see stress_io::pipe_io);
// --pipe-io, the default, is still accepted.
#include <windows.h>
#include <tlhelp32.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "../support/test_support.h"
#include "lab_io.h"
#include "lab_pipe.h"
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

// The loader's reference count of `module`, for the report only: Wine keeps it in
// LDR_DATA_TABLE_ENTRY.LoadCount; Windows 8 and later keep the real count in the module's DDAG node
// and leave that field obsolete. -1 when the module is not in the list, or on an architecture
// whose layout is not listed here (ARM64). The walk does not take the loader lock: the caller holds
// a reference on `module`, and nothing else loads or unloads modules in this process while it
// reports.
//
// Offsets (the layout of Wine's winternl.h, which follows Windows'):          x64     x86
//   TEB.ProcessEnvironmentBlock (read through gs on x64, fs on x86)            0x60    0x30
//   PEB.Ldr                                                                    0x18    0x0C
//   PEB_LDR_DATA.InLoadOrderModuleList                                         0x10    0x0C
//   LDR_DATA_TABLE_ENTRY.DllBase (InLoadOrderLinks is the entry's first field) 0x30    0x18
//   LDR_DATA_TABLE_ENTRY.LoadCount (a SHORT)                                   0x6C    0x38
#if defined(_M_X64) || defined(__x86_64__) || defined(_M_IX86) || defined(__i386__)
struct loader_layout {
  std::size_t ldr, load_order_list, dll_base, load_count;
};

int load_count_in_list(const char* peb, const loader_layout& at, HMODULE module) {
  const auto* ldr = *reinterpret_cast<const char* const*>(peb + at.ldr);
  const auto* head = reinterpret_cast<const LIST_ENTRY*>(ldr + at.load_order_list);
  for (const LIST_ENTRY* link = head->Flink; link != head; link = link->Flink) {
    const auto* entry = reinterpret_cast<const char*>(link);
    if (*reinterpret_cast<void* const*>(entry + at.dll_base) == module) {
      return *reinterpret_cast<const SHORT*>(entry + at.load_count);
    }
  }
  return -1;
}
#endif

int loader_count(HMODULE module) {
  const char* peb = nullptr;
#if defined(_M_X64) || defined(__x86_64__)
#if defined(_MSC_VER) && !defined(__clang__)
  peb = reinterpret_cast<const char*>(__readgsqword(0x60));
#else
  __asm__("movq %%gs:0x60, %0" : "=r"(peb));  // as in dll_main.h: GCC 12 warns on __readgsqword
#endif
  return load_count_in_list(peb, {0x18, 0x10, 0x30, 0x6C}, module);
#elif defined(_M_IX86) || defined(__i386__)
#if defined(_MSC_VER) && !defined(__clang__)
  peb = reinterpret_cast<const char*>(__readfsdword(0x30));
#else
  __asm__("movl %%fs:0x30, %0" : "=r"(peb));  // as in dll_main.h
#endif
  return load_count_in_list(peb, {0x0C, 0x0C, 0x18, 0x38}, module);
#else
  (void)peb;
  (void)module;
  return -1;  // no layout listed for this architecture
#endif
}

// A cycle whose DLL did not unload within the bound: says what still holds it, then keeps waiting
// to tell a slow unload (reported, not a failure) from a leaked reference (a failure).
bool explain_stuck_module(const wchar_t* dll_name, const char* cycle,
                          std::chrono::milliseconds more) {
  HMODULE held = nullptr;
  if (::GetModuleHandleExW(0, dll_name, &held)) {  // our own reference while we look
    long contexts = -1, pins = -1;
    if (auto query = reinterpret_cast<void (*)(long*, long*)>(
            reinterpret_cast<void*>(::GetProcAddress(held, "stress_activity")))) {
      query(&contexts, &pins);
    }
    std::printf(
        "%s: the DLL is still loaded after the bound: loader count %d (ours excluded), "
        "modref contexts alive %ld, module_ref pins alive %ld\n",
        cycle, loader_count(held) - 1, contexts, pins);
    ::FreeLibrary(held);
  }
  const auto start = std::chrono::steady_clock::now();
  if (modref_test::wait_until_unloaded(dll_name, more)) {
    std::printf("%s: ...unloaded %.1f s later: slow, not leaked\n", cycle,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return true;
  }
  std::printf("%s: still loaded %lld s later: a reference leaked\n", cycle,
              static_cast<long long>(more.count() / 1000));
  return false;
}

// Thread-pool threads come and go on their own; allow them this much slack over the baseline.
constexpr int kThreadSlack = 8;
// Handles that the system keeps per pool thread and per cached object; a real leak of one handle
// per cycle exceeds this after a few dozen cycles.
constexpr int kHandleSlack = 24;
// Bounds that only a broken run reaches (Wine starts threads through wineserver; the CPU-load
// threads slow everything down on purpose).
constexpr DWORD kCycleBoundMs = 20000;
// How much longer a cycle that missed kCycleBoundMs may take before it counts as a leak.
constexpr DWORD kStuckBoundMs = 100000;
// How long the final check waits for idle pool threads to go before it calls growth a leak.
constexpr int kSettleSeconds = 15;
// Handles the control's count may move by without it being a per-cycle cost.
constexpr int kControlNoise = 8;
// Cycles of the control (and as many of warm-up before it).
constexpr int kControlCycles = 50;

}  // namespace

int wmain(int argc, wchar_t** argv) {
  if (argc < 3) {
    std::fprintf(
        stderr,
        "usage: racelab_stress <modref|raw> <cycles> [--leak-handle-on-purpose] [--no-pipe-io]\n");
    return lab_setup_error;
  }
  std::setvbuf(stdout, nullptr, _IONBF, 0);  // every line reaches the lab's log, even on a crash
  const bool raw = std::wstring(argv[1]) == L"raw";
  const int cycles = std::wcstol(argv[2], nullptr, 10);
  bool leak_on_purpose = false;
  bool pipe_io = true;  // see stress_io::pipe_io
  for (int i = 3; i < argc; ++i) {
    leak_on_purpose |= std::wstring(argv[i]) == L"--leak-handle-on-purpose";
    if (std::wstring(argv[i]) == L"--no-pipe-io") pipe_io = false;
  }
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

  // MODREF_STRESS_UNLOAD_BOUND_MS shortens the unload bound, to exercise the slow-unload report.
  const char* bound_override = std::getenv("MODREF_STRESS_UNLOAD_BOUND_MS");
  const DWORD unload_bound_ms =
      bound_override ? static_cast<DWORD>(std::atol(bound_override)) : kCycleBoundMs;
  int slow_unloads = 0;       // cycles that needed more than unload_bound_ms to unload
  double slowest_unload = 0;  // seconds from FreeLibrary to unloaded, worst cycle
  stress_io io;
  io.all_done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  io.pipe_io = pipe_io;
  // One cycle: load, start, free at once, wait for the operations and for the unload.
  // `cycle` < 0: a cycle of the control.
  auto run_cycle = [&](const char* entry, int cycle) -> int {
    const std::string label = cycle < 0 ? "control cycle" : "cycle " + std::to_string(cycle);
    io.completed = 0;
    lab_pipe pipe;  // a fresh pipe per cycle: a handle is bound to one I/O object for its life
    if (!pipe.open(0)) return lab_setup_error;
    io.pipe = pipe.server;
    HMODULE dll = ::LoadLibraryW(dll_path.c_str());
    if (dll == nullptr) return lab_setup_error;
    auto start = reinterpret_cast<DWORD (*)(stress_io*)>(
        reinterpret_cast<void*>(::GetProcAddress(dll, entry)));
    if (start == nullptr || start(&io) != 0) return lab_setup_error;
    ::FreeLibrary(dll);  // at once, as careless hosts do; the DLL's read and write are pending
    char bytes[kStressPipeBytes] = {};
    if (io.pipe_io &&
        (pipe.client_write(bytes, kStressPipeBytes, kCycleBoundMs) != kStressPipeBytes ||
         pipe.client_read(bytes, kStressPipeBytes, kCycleBoundMs) != kStressPipeBytes)) {
      std::printf("%s: the DLL's pipe read and write did not both take %lu bytes\n", label.c_str(),
                  static_cast<unsigned long>(kStressPipeBytes));
      return lab_hang;
    }
    if (::WaitForSingleObject(io.all_done, kCycleBoundMs) != WAIT_OBJECT_0) {
      std::printf("%s: only %ld of %d operations finished within the bound\n", label.c_str(),
                  static_cast<long>(io.completed), kStressOperations);
      HMODULE held = nullptr;  // the pending operations keep the DLL loaded; ask it what it saw
      if (::GetModuleHandleExW(0, dll_name, &held)) {
        if (auto explain = reinterpret_cast<void (*)(char*, int)>(
                reinterpret_cast<void*>(::GetProcAddress(held, "stress_explain")))) {
          char text[512] = {};
          explain(text, sizeof text);
          std::printf("%s: arrived at the barrier: %s\n", label.c_str(), text);
        }
        ::FreeLibrary(held);
      }
      return lab_hang;
    }
    const auto freed = std::chrono::steady_clock::now();
    if (!modref_test::wait_until_unloaded(dll_name, std::chrono::milliseconds(unload_bound_ms))) {
      ++slow_unloads;
      if (!explain_stuck_module(dll_name, label.c_str(),
                                std::chrono::milliseconds(kStuckBoundMs))) {
        return lab_leak;
      }
    }
    slowest_unload =
        std::max(slowest_unload,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - freed).count());
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
  // Pool threads starting and ending during the control move the count by a few handles either
  // way; only growth beyond that noise is a per-cycle cost (otherwise 2 handles of noise over 50
  // cycles would allow 80 over 2000).
  const double control_per_cycle =
      std::max(0, modref_test::count_open_handles() - control_start - kControlNoise) /
      static_cast<double>(kControlCycles);

  slow_unloads = 0;
  slowest_unload = 0;
  const int baseline_handles = modref_test::count_open_handles();
  const int baseline_threads = count_threads();
  for (int cycle = 0; cycle < cycles; ++cycle) {
    if (int r = run_cycle("stress_start", cycle); r != lab_passed) return finish(r);
    if ((cycle + 1) % 250 == 0) {
      std::printf("cycle %d: %d handles, %d threads\n", cycle + 1,
                  modref_test::count_open_handles(), count_threads());
    }
  }
  // Judge growth once the pool has settled: idle pool threads (and what the system holds for
  // them) linger for a few seconds after their last callback (Wine: 5 s), so a count taken at
  // the last cycle can sit above the baseline without anything having leaked. A real leak stays.
  const double allowed = control_per_cycle * cycles + kHandleSlack;
  int final_handles = modref_test::count_open_handles();
  int final_threads = count_threads();
  auto handles_grew = [&] { return final_handles - baseline_handles > allowed; };
  auto threads_grew = [&] { return final_threads > baseline_threads + kThreadSlack; };
  const auto settle_deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(kSettleSeconds);
  while ((handles_grew() || threads_grew()) && std::chrono::steady_clock::now() < settle_deadline) {
    ::Sleep(250);
    final_handles = modref_test::count_open_handles();
    final_threads = count_threads();
  }
  std::printf(
      "%d cycles x %d operations: every cycle unloaded; handles %d -> %d (hand-written Win32 "
      "control: %.2f per cycle, allowed growth %.0f), threads %d -> %d; slowest unload %.2f s, "
      "%d beyond %u s\n",
      cycles, kStressOperations, baseline_handles, final_handles, control_per_cycle, allowed,
      baseline_threads, final_threads, slowest_unload, slow_unloads,
      static_cast<unsigned>(unload_bound_ms / 1000));
  if (handles_grew()) {
    std::printf("handle count grew beyond the hand-written Win32 control: leak\n");
    return finish(lab_leak);
  }
  if (threads_grew()) {
    std::printf("thread count grew by more than %d: leak\n", kThreadSlack);
    return finish(lab_leak);
  }
  return finish(lab_passed);
}
