// modref-pool-in-global-destructor, negative: termination_safe, an explicit termination check, and
// EXE-style code behind an explicit ModuleKind would not matter here: this TU is a DLL (DllMain).
#include <windows.h>

#include <modref/dll_main.h>
#include <modref/termination_safe.h>

struct timer_owner {
  PTP_TIMER timer = nullptr;
  ~timer_owner() {
    if (timer == nullptr) return;
    ::SetThreadpoolTimer(timer, nullptr, 0, 0);
    ::WaitForThreadpoolTimerCallbacks(timer, TRUE);
    ::CloseThreadpoolTimer(timer);
  }
};

// Destroyed on FreeLibrary, left alone at process exit.
modref::termination_safe<timer_owner> g_safe_timer;

// A hand-written termination check.
struct checked_owner {
  PTP_TIMER timer = nullptr;
  ~checked_owner() {
    if (modref::process_terminating() || timer == nullptr) return;
    ::CloseThreadpoolTimer(timer);
  }
} g_checked;

MODREF_DEFINE_DLLMAIN();
