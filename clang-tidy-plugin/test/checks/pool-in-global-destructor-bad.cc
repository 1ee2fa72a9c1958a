// modref-pool-in-global-destructor, positive: seed 000's shapes.
#include <windows.h>

#include <memory>

// A global that closes its pool timer in its destructor (seed 000's second customer).
struct timer_owner {
  PTP_TIMER timer = nullptr;
  ~timer_owner() {
    if (timer == nullptr) return;
    ::SetThreadpoolTimer(timer, nullptr, 0, 0);
    ::WaitForThreadpoolTimerCallbacks(timer, TRUE);
    ::CloseThreadpoolTimer(timer);
  }
};
timer_owner g_timer;
// CHECK-MESSAGES: :[[@LINE-1]]:13: warning: termination race: DLL global 'g_timer' uses the thread pool in its destructor (SetThreadpoolTimer) without a termination check [modref-pool-in-global-destructor]

// The same behind a smart pointer and a member.
struct cache {
  timer_owner refresh;
};
std::unique_ptr<cache> g_cache;
// CHECK-MESSAGES: :[[@LINE-1]]:24: warning: termination race: DLL global 'g_cache' uses the thread pool in its destructor (SetThreadpoolTimer) [modref-pool-in-global-destructor]

// WinHTTP's WebSocket close arms a pool timer (seed 000's first customer).
extern "C" DWORD WINAPI WinHttpWebSocketClose(void* socket, USHORT status, void* reason,
                                              DWORD length);
struct socket_holder {
  void* socket = nullptr;
  ~socket_holder() { WinHttpWebSocketClose(socket, 1000, nullptr, 0); }
};
socket_holder g_socket;
// CHECK-MESSAGES: :[[@LINE-1]]:15: warning: termination race: DLL global 'g_socket' uses the thread pool in its destructor (WinHttpWebSocketClose) [modref-pool-in-global-destructor]

BOOL WINAPI DllMain(HINSTANCE, DWORD, void*) { return TRUE; }
