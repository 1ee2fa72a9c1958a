// <modref/coroutine.h> — C++20 coroutines whose frames keep their DLL loaded.
//
// An asynchronous DLL API written today is often a coroutine, and every suspension point is the
// unload race again: the host FreeLibrary()s while the coroutine is suspended, and the pool
// thread that resumes it runs unmapped code. The frame's destruction is a second race: it happens
// on a pool thread, and any instruction of the DLL after the module reference is gone crashes.
// This header gathers the two halves of modref's answer:
//   - <modref/coroutine_task.h>: modref::fire_and_forget (eager, detached) and modref::task<T>
//     (lazy, awaitable with symmetric transfer, or get()). Each frame pins its module when it is
//     created, on the calling thread, and gives the pin back after the frame is destroyed, as the
//     thread's last act in the DLL (FreeLibraryWhenCallbackReturns).
//   - <modref/coroutine_awaitables.h>: resume_background(), resume_after(d),
//     resume_on_signal(h, timeout), each queued in a callback environment that names the module,
//     with std::stop_token cancellation and threadpool_options for a custom pool.
//
// Example: a plugin's asynchronous export that waits for a timer and an event. The host may
// FreeLibrary the DLL as soon as StartJob returns; the DLL unloads after the frame is gone.
//
//   #include <modref/coroutine.h>
//
//   std::stop_source g_shutdown;  // requested by the plugin's Shutdown export
//
//   modref::fire_and_forget run_job(std::wstring name, HANDLE input_ready) {
//     modref::wake_result woke = co_await modref::resume_after(std::chrono::milliseconds(200),
//                                                              g_shutdown.get_token());
//     if (woke.cancelled()) co_return;
//     woke = co_await modref::resume_on_signal(input_ready, std::chrono::seconds(5),
//                                              g_shutdown.get_token());
//     if (woke) process(name);          // signalled; otherwise timed out or cancelled
//   }
//
//   extern "C" __declspec(dllexport) HRESULT StartJob(const wchar_t* name, HANDLE ready) try {
//     run_job(name, ready);             // the frame is pinned before this returns
//     return S_OK;
//   } catch (const std::system_error&) {
//     return E_FAIL;                    // could not pin: nothing was started, nothing leaked
//   }
//
// Lifetime: see the two headers. In short: a frame's pin lives exactly as long as the frame; a
// child task awaited by a modref coroutine of the same module borrows its parent's pin; pending
// awaitables keep the module loaded through their callback environment.
//
// Thread safety / memory ordering: see the two headers. Nothing here uses Abseil's
// synchronization or thread_local: frames run and end on pool threads that outlive the DLL.
//
// Where the guarantee stops: a coroutine resumed by something that is not modref (a raw pool
// callback, another library's awaitable) and that finishes there gives its pin to a releaser
// callback, which can in principle release the module before the resuming thread has returned
// out of the frame's code. docs/design.md ("Coroutines resumed by others") says exactly what
// remains and why.
#ifndef MODREF_COROUTINE_H_
#define MODREF_COROUTINE_H_

#include "modref/coroutine_awaitables.h"
#include "modref/coroutine_task.h"

#endif  // MODREF_COROUTINE_H_
