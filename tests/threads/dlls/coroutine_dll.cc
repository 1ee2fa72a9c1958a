// A test DLL whose asynchronous exports are modref coroutines. The host starts one, FreeLibrary()s
// the DLL at once, and only then lets the coroutine continue (an event it awaits); the frame's pin
// must keep the DLL mapped until the frame is gone, and the DLL must unload right after.
// DllMain also tries a coroutine under the loader lock (refused) and records what it saw.
#include <windows.h>

#include <modref/coroutine.h>
#include <modref/dll_main.h>

#include <chrono>
#include <coroutine>
#include <stop_token>
#include <system_error>

namespace {

std::stop_source g_stop;
volatile LONG g_dllmain_get_refused = 0;    // errc of task::get() inside DllMain
volatile LONG g_dllmain_await_refused = 0;  // errc of co_await resume_background() in DllMain

modref::task<int> probe_task() { co_return 1; }

modref::fire_and_forget await_in_dllmain() {
  try {
    co_await modref::resume_background();
  } catch (const std::system_error& e) {
    g_dllmain_await_refused = e.code().value();
  }
}

modref::task<int> add_later(int a, int b) {
  co_await modref::resume_background();
  co_return a + b;
}

// Waits for `go` (set by the host after FreeLibrary), computes in a child task, reports in
// `*out`, then signals `done`. Its frame is destroyed on a pool thread after `done`.
modref::fire_and_forget suspended_on_event(HANDLE go, HANDLE done, volatile LONG* out) {
  modref::wake_result woke = co_await modref::resume_on_signal(go, std::chrono::seconds(30));
  const int sum = co_await add_later(40, 2);
  *out = woke ? sum : -1;
  ::SetEvent(done);
}

// A pending resume_after at FreeLibrary; with a stop token, cancelled by cancel_all().
modref::fire_and_forget sleeper(std::chrono::milliseconds delay, HANDLE done, volatile LONG* out) {
  modref::wake_result woke = co_await modref::resume_after(delay, g_stop.get_token());
  *out = woke.cancelled() ? 2 : 1;
  ::SetEvent(done);
}

// An awaitable that is not modref: it parks the frame's handle in host memory, and the host
// resumes it later from its own thread. Only the frame's pin keeps the DLL loaded meanwhile (no
// pool object names it), and the frame finishes on the host's thread, outside any modref
// callback, so its pin goes to the releaser.
struct park_in_host {
  void** slot;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const noexcept { *slot = h.address(); }
  void await_resume() const noexcept {}
};

modref::fire_and_forget parked(void** slot, HANDLE done, volatile LONG* out) {
  co_await park_in_host{slot};
  *out = 7;
  ::SetEvent(done);
}

}  // namespace

extern "C" BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved) {
  if (reason == DLL_PROCESS_ATTACH) {
    modref::task<int> t = probe_task();
    try {
      (void)t.get();
    } catch (const std::system_error& e) {
      g_dllmain_get_refused = e.code().value();
    }
    await_in_dllmain();
  }
  return modref::dll_main(instance, reason, reserved);
}

extern "C" {

__declspec(dllexport) DWORD coro_start_suspended(HANDLE go, HANDLE done, volatile LONG* out) {
  try {
    suspended_on_event(go, done, out);
    return 0;
  } catch (const std::system_error& e) {
    return static_cast<DWORD>(e.code().value());
  }
}

__declspec(dllexport) DWORD coro_start_sleeper(DWORD delay_ms, HANDLE done, volatile LONG* out) {
  try {
    sleeper(std::chrono::milliseconds(delay_ms), done, out);
    return 0;
  } catch (const std::system_error& e) {
    return static_cast<DWORD>(e.code().value());
  }
}

__declspec(dllexport) DWORD coro_start_parked(void** slot, HANDLE done, volatile LONG* out) {
  try {
    parked(slot, done, out);
    return 0;
  } catch (const std::system_error& e) {
    return static_cast<DWORD>(e.code().value());
  }
}

__declspec(dllexport) void coro_cancel_all() { g_stop.request_stop(); }

__declspec(dllexport) long coro_live_frames() { return modref::activity().live_contexts; }

__declspec(dllexport) LONG coro_dllmain_get_refused() { return g_dllmain_get_refused; }
__declspec(dllexport) LONG coro_dllmain_await_refused() { return g_dllmain_await_refused; }

}  // extern "C"
