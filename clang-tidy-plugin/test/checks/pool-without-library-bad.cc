// modref-pool-without-library, positive.
#include <windows.h>

static void CALLBACK simple(PTP_CALLBACK_INSTANCE, void*) {}
static void CALLBACK work(PTP_CALLBACK_INSTANCE, void*, PTP_WORK) {}
static void CALLBACK timer(PTP_CALLBACK_INSTANCE, void*, PTP_TIMER) {}
static DWORD WINAPI legacy(void*) { return 0; }

extern "C" __declspec(dllexport) void queue_null_environment() {
  ::TrySubmitThreadpoolCallback(simple, nullptr, nullptr);
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: unload race: TrySubmitThreadpoolCallback with a null callback environment [modref-pool-without-library]
  PTP_TIMER t = ::CreateThreadpoolTimer(timer, nullptr, NULL);
  // CHECK-MESSAGES: :[[@LINE-1]]:17: warning: unload race: CreateThreadpoolTimer with a null callback environment [modref-pool-without-library]
  ::CloseThreadpoolTimer(t);
}

extern "C" __declspec(dllexport) void queue_environment_without_library() {
  TP_CALLBACK_ENVIRON env;
  ::InitializeThreadpoolEnvironment(&env);
  ::SetThreadpoolCallbackRunsLong(&env);
  PTP_WORK w = ::CreateThreadpoolWork(work, nullptr, &env);
  // CHECK-MESSAGES: :[[@LINE-1]]:16: warning: unload race: CreateThreadpoolWork with an environment never given SetThreadpoolCallbackLibrary [modref-pool-without-library]
  ::SubmitThreadpoolWork(w);
  ::DestroyThreadpoolEnvironment(&env);
}

extern "C" __declspec(dllexport) void queue_legacy() {
  ::QueueUserWorkItem(legacy, nullptr, WT_EXECUTEDEFAULT);
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: unload race: QueueUserWorkItem is a legacy thread-pool API with no callback library [modref-pool-without-library]
}
