// modref-exit-thread-in-pool-callback, negative: ExitThread on a thread the code created itself,
// and pool callbacks that return.
#include <windows.h>

static DWORD WINAPI own_thread(void*) { ::ExitThread(0); }

static void CALLBACK returns(PTP_CALLBACK_INSTANCE instance, void* module) {
  ::FreeLibraryWhenCallbackReturns(instance, static_cast<HMODULE>(module));
}

void start(HMODULE module) {
  ::CloseHandle(::CreateThread(nullptr, 0, own_thread, nullptr, 0, nullptr));
  ::TrySubmitThreadpoolCallback(returns, module, nullptr);
}
