// apis.h — the Win32 and CRT functions the checks know, with the positions of their thread
// procedure or callback, context and callback-environment arguments.
#ifndef MODREF_TIDY_APIS_H
#define MODREF_TIDY_APIS_H

#include "clang/AST/Expr.h"
#include "llvm/ADT/StringRef.h"

namespace modref_tidy {

struct async_api {
  llvm::StringRef name;
  int callback;     // argument index of the thread procedure or callback
  int context;      // argument index of the void* handed to it, -1 if none
  int environment;  // argument index of PTP_CALLBACK_ENVIRON, -1 if none
  bool thread;      // true: starts a thread; false: queues thread-pool work
  bool legacy;      // true: a legacy pool API that cannot name a callback library
};

inline constexpr async_api kAsyncApis[] = {
    {"CreateThread", 2, 3, -1, true, false},
    {"_beginthreadex", 2, 3, -1, true, false},
    {"_beginthread", 0, 2, -1, true, false},
    {"TrySubmitThreadpoolCallback", 0, 1, 2, false, false},
    {"CreateThreadpoolWork", 0, 1, 2, false, false},
    {"CreateThreadpoolTimer", 0, 1, 2, false, false},
    {"CreateThreadpoolWait", 0, 1, 2, false, false},
    {"CreateThreadpoolIo", 1, 2, 3, false, false},
    {"QueueUserWorkItem", 0, 1, -1, false, true},
    {"RegisterWaitForSingleObject", 2, 3, -1, false, true},
    {"CreateTimerQueueTimer", 2, 3, -1, false, true},
    {"BindIoCompletionCallback", 1, -1, -1, false, true},
};

// The API that `call` calls directly, or null.
const async_api* async_api_of(const clang::CallExpr* call);

// Functions whose call ends the calling thread.
inline constexpr llvm::StringRef kThreadEnders[] = {"ExitThread", "FreeLibraryAndExitThread",
                                                    "_endthread", "_endthreadex"};

// Calls that use the thread pool (or close its objects), including WinHTTP's WebSocket close,
// which arms a pool timer (seed 000).
inline constexpr llvm::StringRef kPoolUsers[] = {"TrySubmitThreadpoolCallback",
                                                 "SubmitThreadpoolWork",
                                                 "CreateThreadpoolWork",
                                                 "CreateThreadpoolTimer",
                                                 "CreateThreadpoolWait",
                                                 "CreateThreadpoolIo",
                                                 "SetThreadpoolTimer",
                                                 "SetThreadpoolTimerEx",
                                                 "SetThreadpoolWait",
                                                 "SetThreadpoolWaitEx",
                                                 "StartThreadpoolIo",
                                                 "WaitForThreadpoolWorkCallbacks",
                                                 "WaitForThreadpoolTimerCallbacks",
                                                 "WaitForThreadpoolWaitCallbacks",
                                                 "WaitForThreadpoolIoCallbacks",
                                                 "CloseThreadpoolWork",
                                                 "CloseThreadpoolTimer",
                                                 "CloseThreadpoolWait",
                                                 "CloseThreadpoolIo",
                                                 "CloseThreadpool",
                                                 "CloseThreadpoolCleanupGroupMembers",
                                                 "CloseThreadpoolCleanupGroup",
                                                 "QueueUserWorkItem",
                                                 "CreateTimerQueueTimer",
                                                 "ChangeTimerQueueTimer",
                                                 "DeleteTimerQueueTimer",
                                                 "DeleteTimerQueue",
                                                 "DeleteTimerQueueEx",
                                                 "RegisterWaitForSingleObject",
                                                 "UnregisterWait",
                                                 "UnregisterWaitEx",
                                                 "WinHttpWebSocketClose",
                                                 "WinHttpWebSocketShutdown"};

}  // namespace modref_tidy

#endif  // MODREF_TIDY_APIS_H
