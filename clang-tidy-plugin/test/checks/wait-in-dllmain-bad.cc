// modref-wait-in-dllmain, positive: waits, joins and loads under the loader lock.
#include <windows.h>

#include <thread>

HANDLE g_worker = nullptr;
std::thread g_std_worker;

static void stop_workers() {
  if (g_std_worker.joinable()) g_std_worker.join();
}

// A global that waits for its worker in its destructor (google/pthreadpool PR #92).
struct worker_owner {
  HANDLE stopped = nullptr;
  ~worker_owner() { ::WaitForSingleObject(stopped, INFINITE); }
} g_owner;
// CHECK-MESSAGES: :[[@LINE-1]]:3: warning: loader-lock deadlock: the destructor of DLL global 'g_owner' reaches WaitForSingleObject [modref-wait-in-dllmain]

// std::jthread's destructor joins.
std::jthread g_jworker;
// CHECK-MESSAGES: :[[@LINE-1]]:14: warning: loader-lock deadlock: the destructor of DLL global 'g_jworker' reaches std::jthread::join [modref-wait-in-dllmain]

BOOL WINAPI DllMain(HINSTANCE, DWORD reason, void*) {
  if (reason == DLL_PROCESS_DETACH) {
    ::WaitForSingleObject(g_worker, INFINITE);
    // CHECK-MESSAGES: :[[@LINE-1]]:5: warning: loader-lock deadlock: DllMain calls WaitForSingleObject while it holds the loader lock [modref-wait-in-dllmain]
    stop_workers();
    // CHECK-MESSAGES: :[[@LINE-1]]:5: warning: loader-lock deadlock: DllMain reaches std::thread::join while it holds the loader lock [modref-wait-in-dllmain]
  }
  if (reason == DLL_PROCESS_ATTACH) {
    ::LoadLibraryW(L"helper.dll");
    // CHECK-MESSAGES: :[[@LINE-1]]:5: warning: loader-lock deadlock: DllMain calls LoadLibraryW [modref-wait-in-dllmain]
  }
  return TRUE;
}
