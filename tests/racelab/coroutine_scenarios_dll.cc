// racelab_coro_raw.dll / racelab_coro_modref.dll — the coroutine rows of the race lab, one
// source built twice (MODREF_CORO_RAW selects the raw pattern). The host (racelab_host.exe) calls
// a scenario, FreeLibrary()s the DLL at once, then sets io->go; the coroutine continues only then.
//
// Raw: coroutine types in the C++/WinRT and WIL style: a fire_and_forget promise that takes no
// loader reference, resumed through TrySubmitThreadpoolCallback / CreateThreadpoolTimer with no
// callback environment (microsoft/cppwinrt#397, microsoft/wil#202). In coroutine_final_release the
// promise does pin itself, and gives the pin back with FreeLibrary in its destructor: the DLL is
// unmapped under the instructions that still have to run (the rest of the frame's destruction,
// the callback's return). Modref: the same coroutines with modref::fire_and_forget and its
// awaitables.
//
// Every modref coroutine reports through a frame-local object whose destructor is the last thing
// to run in the frame: result lab_passed, then done. A DLL that unloaded before the frame was gone
// would crash in that destructor or right after it.
#include <windows.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <exception>
#include <stop_token>

#include "lab_io.h"

#if !defined(MODREF_CORO_RAW)
#include <modref/coroutine.h>
#include <modref/dll_main.h>
MODREF_DEFINE_DLLMAIN();
#endif

namespace {

// coroutine_timer_at_unload: the host calls FreeLibrary right after the scenario returns, and the
// timer must fire after that. 1.5 s is far more than that call takes even on a loaded 2-core
// machine; it is not a rendezvous (a pool timer cannot be held on an event).
constexpr std::chrono::milliseconds kTimerDelay(1500);

// Reports from the frame's last destructor: the host sees `done` only after it ran.
struct report_on_exit {
  lab_io* io;
  LONG outcome = lab_corrupted;  // set to lab_passed when the coroutine's checks held
  ~report_on_exit() {
    io->result = outcome;
    ::SetEvent(io->done);
  }
};

// coroutine_final_release: a parameter copy whose destructor signals `done`. The language destroys
// parameter copies after the promise, so this is the frame's very last destructor: in the raw
// version it runs after the promise's FreeLibrary, in unmapped code.
struct done_on_destroy {
  lab_io* io;
  explicit done_on_destroy(lab_io* i) : io(i) {}
  done_on_destroy(done_on_destroy&& other) noexcept : io(other.io) { other.io = nullptr; }
  done_on_destroy(const done_on_destroy&) = delete;
  done_on_destroy& operator=(const done_on_destroy&) = delete;
  ~done_on_destroy() {
    if (io != nullptr) ::SetEvent(io->done);
  }
};

#if defined(MODREF_CORO_RAW)

// The C++/WinRT-style fire_and_forget: no pin anywhere.
struct raw_fire_and_forget {
  struct promise_type {
    raw_fire_and_forget get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

// coroutine_final_release: this promise pins itself (on the calling thread, correctly) but gives
// the pin back with FreeLibrary in its destructor: the last reference goes while the frame's
// destruction and the resuming callback still have instructions to run in this DLL.
struct self_releasing_fire_and_forget {
  struct promise_type {
    HMODULE pin = nullptr;
    promise_type() {
      ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                           reinterpret_cast<LPCWSTR>(&report_on_exit_address), &pin);
    }
    ~promise_type() { ::FreeLibrary(pin); }
    self_releasing_fire_and_forget get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
    static inline char report_on_exit_address = 0;  // any address inside this DLL
  };
};

// resume_on_event in the C++/WinRT style: a pool callback with no environment waits for the event
// and resumes the coroutine. (C++/WinRT's resume_on_signal uses a TP_WAIT; the pattern is the
// same: nothing names the DLL.)
struct raw_resume_on_event {
  HANDLE event;
  std::coroutine_handle<> frame;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    frame = h;
    if (!::TrySubmitThreadpoolCallback(&entry, this, nullptr)) std::terminate();
  }
  void await_resume() const noexcept {}
  static void CALLBACK entry(PTP_CALLBACK_INSTANCE, void* raw) {
    auto* self = static_cast<raw_resume_on_event*>(raw);
    ::WaitForSingleObject(self->event, INFINITE);
    self->frame.resume();
  }
};

// resume_after in the C++/WinRT style: a pool timer with no environment.
struct raw_resume_after {
  std::chrono::milliseconds delay;
  std::coroutine_handle<> frame;
  PTP_TIMER timer = nullptr;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    frame = h;
    timer = ::CreateThreadpoolTimer(&entry, this, nullptr);
    if (timer == nullptr) std::terminate();
    const auto ticks = -static_cast<LONGLONG>(delay.count()) * 10'000;
    FILETIME due{static_cast<DWORD>(ticks & 0xFFFFFFFF), static_cast<DWORD>(ticks >> 32)};
    ::SetThreadpoolTimer(timer, &due, 0, 0);
  }
  void await_resume() const noexcept {}
  static void CALLBACK entry(PTP_CALLBACK_INSTANCE, void* raw, PTP_TIMER timer) {
    ::CloseThreadpoolTimer(timer);
    static_cast<raw_resume_after*>(raw)->frame.resume();
  }
};

raw_fire_and_forget suspended_on_event(lab_io* io) {
  report_on_exit report{io};
  co_await raw_resume_on_event{io->go, {}};
  report.outcome = lab_passed;
}

self_releasing_fire_and_forget final_release(lab_io* io, done_on_destroy) {
  co_await raw_resume_on_event{io->go, {}};
  io->result = lab_passed;
}

raw_fire_and_forget timer_at_unload(lab_io* io) {
  report_on_exit report{io};
  co_await raw_resume_after{kTimerDelay, {}};
  report.outcome = lab_passed;
}

// The raw "cancellation": the canceller resumes the coroutine through a pool callback with no
// environment, here held until the host has freed the DLL.
raw_fire_and_forget cancelled_timer(lab_io* io) {
  report_on_exit report{io};
  co_await raw_resume_on_event{io->go, {}};  // what the raw cancel does: resume on a raw callback
  report.outcome = lab_passed;
}

#else  // modref

modref::fire_and_forget suspended_on_event(lab_io* io) {
  report_on_exit report{io};
  modref::wake_result woke = co_await modref::resume_on_signal(io->go);
  if (woke) report.outcome = lab_passed;
}

modref::fire_and_forget final_release(lab_io* io, done_on_destroy) {
  modref::wake_result woke = co_await modref::resume_on_signal(io->go);
  io->result = woke ? lab_passed : lab_corrupted;
}  // the frame is destroyed on the pool thread (the parameter copy last); then its pin goes with
   // FreeLibraryWhenCallbackReturns

modref::fire_and_forget timer_at_unload(lab_io* io) {
  report_on_exit report{io};
  modref::wake_result woke = co_await modref::resume_after(kTimerDelay);
  if (woke) report.outcome = lab_passed;
}

std::stop_source g_stop;

modref::fire_and_forget cancelled_timer(lab_io* io) {
  report_on_exit report{io};
  // An hour: only the cancellation can end it within the host's bound.
  modref::wake_result woke =
      co_await modref::resume_after(std::chrono::hours(1), g_stop.get_token());
  if (woke.cancelled()) report.outcome = lab_passed;
}

#endif

}  // namespace

extern "C" {

__declspec(dllexport) DWORD scenario_coroutine_suspended_at_unload(lab_io* io) {
  suspended_on_event(io);
  return 0;
}

__declspec(dllexport) DWORD scenario_coroutine_final_release(lab_io* io) {
  io->result = lab_corrupted;  // until the coroutine says otherwise
  final_release(io, done_on_destroy(io));
  return 0;
}

__declspec(dllexport) DWORD scenario_coroutine_timer_at_unload(lab_io* io) {
  timer_at_unload(io);
  return 0;
}

__declspec(dllexport) DWORD scenario_coroutine_timer_cancelled(lab_io* io) {
  cancelled_timer(io);
#if !defined(MODREF_CORO_RAW)
  g_stop.request_stop();  // pending at FreeLibrary: the coroutine is being resumed promptly
#endif
  return 0;
}

}  // extern "C"
