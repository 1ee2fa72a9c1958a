// modref-exit-thread-in-pool-callback, positive (the check applies to EXE code too: ending a pool
// thread is wrong in any module).
#include <windows.h>

static void CALLBACK ends_the_pool_thread(PTP_CALLBACK_INSTANCE, void*) {
  ::ExitThread(0);
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: ExitThread on a thread-pool thread [modref-exit-thread-in-pool-callback]
}

static void finish(HMODULE module) {
  ::FreeLibraryAndExitThread(module, 0);
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: FreeLibraryAndExitThread on a thread-pool thread [modref-exit-thread-in-pool-callback]
}
static void CALLBACK work(PTP_CALLBACK_INSTANCE, void* module, PTP_WORK) {
  finish(static_cast<HMODULE>(module));
  // CHECK-NOTES: :[[@LINE-1]]:3: note: through a call to 'finish'
}

void queue(HMODULE module) {
  ::TrySubmitThreadpoolCallback(ends_the_pool_thread, nullptr, nullptr);
  // CHECK-NOTES: :[[@LINE-1]]:3: note: the callback is queued here by TrySubmitThreadpoolCallback
  ::SubmitThreadpoolWork(::CreateThreadpoolWork(work, module, nullptr));
  // CHECK-NOTES: :[[@LINE-1]]:26: note: the callback is queued here by CreateThreadpoolWork
  ::QueueUserWorkItem(
      [](void*) -> DWORD {
        ::ExitThread(1);
        // CHECK-MESSAGES: :[[@LINE-1]]:9: warning: ExitThread on a thread-pool thread [modref-exit-thread-in-pool-callback]
        return 0;
      },
      nullptr, WT_EXECUTEDEFAULT);
  // CHECK-NOTES: :[[@LINE-7]]:3: note: the callback is queued here by QueueUserWorkItem
}
