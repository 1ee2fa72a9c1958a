// racelab_host.exe <scenario> <raw|modref>
// Runs one race-lab scenario against racelab_raw.dll or racelab_modref.dll in this process and
// exits with a lab_outcome (lab_io.h) saying what happened. A crash ends the process with the
// exception code (0xC0000005 for code executed after its module was unmapped). racelab.exe runs
// this host once per scenario and variant and prints the table.
#include <windows.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "../support/test_support.h"
#include "com_lab.h"
#include "io_lab.h"
#include "lab_io.h"

namespace {

lab_io g_io;  // lives in the executable: valid after the DLL is gone
const wchar_t* g_dll_name = nullptr;

// Bounds for waits that only a broken scenario would reach. Generous: Wine creates threads
// through wineserver, and CI runs the lab beside other jobs on 2 cores.
constexpr DWORD kWorkBoundMs = 15000;

// Scenario 7: an EXE global that exit() destroys before worker threads are killed. Its destructor
// scrubs the text (as freed memory would be), then lets the worker read it.
struct exe_state {
  char message[32] = {};
  bool armed = false;
  exe_state() { std::strcpy(message, kLabMessage); }
  ~exe_state() {
    if (!armed) return;
    std::memset(message, 0xDD, sizeof message);
    ::SetEvent(g_io.go);
    ::WaitForSingleObject(g_io.done, kWorkBoundMs);
  }
} g_exe_state;

HANDLE new_event() { return ::CreateEventW(nullptr, TRUE, FALSE, nullptr); }

DWORD finish_unload_scenario() {
  ::SetEvent(g_io.go);  // the worker continues only now, with the DLL already freed by the host
  if (::WaitForSingleObject(g_io.done, kWorkBoundMs) != WAIT_OBJECT_0) return lab_hang;
  if (g_io.worker != nullptr && ::WaitForSingleObject(g_io.worker, kWorkBoundMs) != WAIT_OBJECT_0)
    return lab_hang;
  if (!modref_test::wait_until_unloaded(g_dll_name)) return lab_leak;
  return g_io.result;
}

}  // namespace

int wmain(int argc, wchar_t** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: racelab_host <scenario> <raw|modref>\n");
    return lab_setup_error;
  }
  const std::wstring scenario = argv[1];
  const std::wstring variant = argv[2];
  if (scenario == L"com_server_unloaded_by_com" || scenario == L"com_object_from_worker")
    return run_com_scenario(argv[1], argv[2]);                         // com_host.cc
  if (scenario == L"com_stress") return run_com_stress(argv[2], 200);  // com_host.cc
  // The overlapped-I/O rows (io_host.cc).
  if (is_io_scenario(scenario)) return run_io_scenario(scenario, variant);
  g_dll_name = variant == L"raw" ? L"racelab_raw.dll" : L"racelab_modref.dll";
  // The coroutine rows live in their own pair of DLLs (coroutine_scenarios_dll.cc).
  if (scenario.rfind(L"coroutine_", 0) == 0) {
    g_dll_name = variant == L"raw" ? L"racelab_coro_raw.dll" : L"racelab_coro_modref.dll";
  }
  g_io.go = new_event();
  g_io.done = new_event();
  g_io.exe_message = g_exe_state.message;

  HMODULE dll = ::LoadLibraryW(modref_test::sibling(g_dll_name).c_str());
  if (dll == nullptr) return lab_setup_error;
  const std::string export_name = "scenario_" + std::string(scenario.begin(), scenario.end());
  auto entry = reinterpret_cast<lab_entry>(
      reinterpret_cast<void*>(::GetProcAddress(dll, export_name.c_str())));
  if (entry == nullptr) return lab_setup_error;

  if (scenario == L"unload_while_running" || scenario == L"free_then_exit_thread" ||
      scenario == L"pool_without_library" || scenario == L"thread_local_in_worker" ||
      scenario.rfind(L"coroutine_", 0) == 0) {
    if (entry(&g_io) != 0) return lab_setup_error;
    ::FreeLibrary(dll);  // the host lets go at once
    const DWORD outcome = finish_unload_scenario();
    if (scenario == L"thread_local_in_worker" && outcome == 1)
      return lab_passed;  // TLS destructor ran
    return outcome == 1 ? lab_setup_error : outcome;
  }
  if (scenario == L"pin_inside_worker") {
    if (entry(&g_io) != 0 || g_io.held_thread == nullptr) return lab_setup_error;
    ::FreeLibrary(dll);                // while the worker is held before its first instruction
    ::ResumeThread(g_io.held_thread);  // now let it start
    ::CloseHandle(g_io.held_thread);
    return finish_unload_scenario();
  }
  if (scenario == L"freed_parameter") {
    if (entry(&g_io) != 0) return lab_setup_error;
    ::SetEvent(g_io.go);  // the creator has returned: its parameter is gone in the raw version
    if (::WaitForSingleObject(g_io.done, kWorkBoundMs) != WAIT_OBJECT_0) return lab_hang;
    ::FreeLibrary(dll);
    if (!modref_test::wait_until_unloaded(g_dll_name)) return lab_leak;
    return g_io.result;
  }
  if (scenario == L"creation_fails") {
    g_io.inject_error = ERROR_NOT_ENOUGH_MEMORY;
    if (entry(&g_io) != ERROR_NOT_ENOUGH_MEMORY) return lab_setup_error;
    auto live = reinterpret_cast<LONG (*)()>(
        reinterpret_cast<void*>(::GetProcAddress(dll, "live_objects")));
    const LONG leaked = live();
    ::FreeLibrary(dll);
    if (leaked != 0) return lab_leak;
    if (modref_test::is_loaded(g_dll_name)) return lab_leak;  // a pin that was not given back
    return lab_passed;
  }
  if (scenario == L"exe_global_at_exit") {
    if (entry(&g_io) != 0) return lab_setup_error;
    g_exe_state.armed = true;
    return lab_passed;  // exit(): EXE globals die first (g_exe_state lets the worker look), then
                        // threads
  }
  if (scenario == L"pool_in_global_dtor_at_exit" || scenario == L"global_thread_at_exit") {
    if (entry(&g_io) != 0) return lab_setup_error;
    return lab_passed;  // exit with the DLL loaded: its globals are destroyed during termination
  }
  if (scenario == L"join_in_dllmain") {
    if (entry(&g_io) != 0) return lab_setup_error;
    ::FreeLibrary(dll);
    ::SetEvent(g_io.go);  // modref: the worker ends and its own exit unloads the DLL
    if (!modref_test::wait_until_unloaded(g_dll_name)) return lab_leak;
    return g_io.result;
  }
  std::fprintf(stderr, "unknown scenario\n");
  return lab_setup_error;
}
