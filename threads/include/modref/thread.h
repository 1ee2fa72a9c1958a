// <modref/thread.h> — threads that cannot outlive the code they run.
//
// A DLL that starts a thread and returns invites two crashes. The host may FreeLibrary the DLL at
// once, unmapping the code the thread is about to run; and the state handed to the thread through
// CreateThread's `void*` may die with the function that created it. modref::thread,
// modref::jthread and modref::start_detached close both races by construction:
//
//   1. Before the call returns, the module that instantiated it (your DLL) is pinned: one loader
//      reference is taken on the calling thread, so no FreeLibrary can unmap the code in between.
//   2. The callable, its decayed arguments and that reference live in one intrusively counted
//      context; the creator adds the worker's reference before CreateThread and gives it back (and
//      the pin with it) if creation fails.
//   3. The worker runs the callable, destroys the context (callable, arguments, stop state: every
//      destructor runs), and only then calls FreeLibraryAndExitThread(module, exit_code) as the
//      last statement of a trampoline compiled into your module. Nothing runs after it.
//
// Example: the one-line fix for an asynchronous DLL export.
//
//   extern "C" __declspec(dllexport) HRESULT StartIndexing(const wchar_t* folder) {
//     absl::Status started = modref::start_detached(
//         [](std::wstring folder) { index_folder(folder); },  // runs on the new thread
//         std::wstring(folder));                             // copied into the context
//     return started.ok() ? S_OK : HRESULT_FROM_WIN32(modref::win32_error_code(started).value_or(
//                                      ERROR_GEN_FAILURE));
//   }
//   // The host may FreeLibrary right after StartIndexing returns: the DLL stays mapped until
//   // index_folder has returned and its std::wstring has been destroyed.
//
//   modref::thread worker([](int n) { return n * 2; }, 21);   // like std::thread
//   worker.join();                                            // exit code 42
//
//   modref::jthread poller([](std::stop_token stop) {         // like std::jthread
//     while (!stop.stop_requested()) poll_once();
//   });                                                       // ~jthread: request_stop + join
//
// Semantics, as std::thread: an exception escaping the callable calls std::terminate; destroying
// a joinable modref::thread calls std::terminate. A callable returning an integer (or enum) sets
// the thread's exit code, otherwise it is 0.
//
// What std::thread does not do:
//   - join() refuses to deadlock: joining from the thread itself, or under the loader lock (inside
//     any DllMain) while the thread still runs, throws std::system_error with
//     std::errc::resource_deadlock_would_occur instead of hanging for ever. try_join() returns a
//     status instead of throwing.
//   - ~jthread during process termination does nothing (the thread was already killed by the
//     system; see <modref/dll_main.h>), and under the loader lock it requests stop and does not
//     wait, saying so through OutputDebugString.
//   - Every starting function has a non-throwing form returning absl::Status / absl::StatusOr
//     for every failure to start (pin, allocation, CreateThread); only exceptions thrown by
//     copying or moving your callable and arguments propagate, as they would from std::thread.
//
// On Linux/glibc (detail/thread_linux.h) the same names and contracts hold for a .so: the pin is
// taken before the call returns, the creator hands the context to pthread_create and keeps no
// reference, and the worker's first action registers dlclose(pin) as its last thread-exit
// destructor (__cxa_thread_atexit_impl), so the final dlclose runs from glibc's thread-exit code
// after every frame and thread_local of the .so is gone, also after pthread_exit. Build the .so
// with -fno-gnu-unique (modref::module adds it for GCC) and define no pthread_key destructors in
// it; docs/design.md ("Linux/glibc") has every rule, docs/api.md the Linux column.
//
// Lifetime
//   - The context is destroyed on the worker thread, before it exits. modref creates the thread
//     suspended and drops the creator's reference before resuming it, so the last reference, and
//     with it every destructor, always belongs to the worker.
//   - The module stays loaded until FreeLibraryAndExitThread: after that the thread can no longer
//     touch it. Objects the callable shares with others (a ref_ptr, a shared_ptr) die whenever
//     their last owner lets go, as usual.
//   - Threads use CreateThread, not _beginthreadex; docs/design.md explains why.
//
// Thread safety: a thread object is used by one thread at a time, as std::thread. The module pin
// and the context's count follow the orderings documented in <modref/refcount.h>.
#ifndef MODREF_THREAD_H_
#define MODREF_THREAD_H_

#if defined(_WIN32)
#include "modref/detail/thread_win32.h"
#elif defined(__linux__)
#include "modref/detail/thread_linux.h"
#else
#error "<modref/thread.h> supports Windows and Linux/glibc"
#endif

#endif  // MODREF_THREAD_H_
