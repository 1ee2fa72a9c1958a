// modref-thread-without-pin, positive: threads started from a DLL with nothing pinning it.
#include <windows.h>
#include <process.h>

#include <thread>

static DWORD WINAPI worker(void*) { return 0; }
static unsigned __stdcall crt_worker(void*) { return 0; }

extern "C" __declspec(dllexport) void start_raw() {
  HANDLE h = ::CreateThread(nullptr, 0, worker, nullptr, 0, nullptr);
  // CHECK-MESSAGES: :[[@LINE-1]]:14: warning: unload race: CreateThread starts a thread in a DLL with no pin on the module taken before the call [modref-thread-without-pin]
  ::CloseHandle(h);
}

extern "C" __declspec(dllexport) void start_crt() {
  // MinGW links msvcrt, whose _beginthreadex does not pin the module (the UCRT's does).
  _beginthreadex(nullptr, 0, crt_worker, nullptr, 0, nullptr);
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: unload race: _beginthreadex starts a thread in a DLL with no pin on the module taken before the call, so the host may FreeLibrary the DLL while the thread still runs its code; MinGW's msvcrt does not pin [modref-thread-without-pin]
}

extern "C" __declspec(dllexport) void start_std() {
  std::thread([] {}).detach();
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: unload race: std::thread starts a thread in a DLL [modref-thread-without-pin]
}

// A pin taken after the thread started is too late: the worker may already have finished.
extern "C" __declspec(dllexport) void start_then_pin() {
  HANDLE h = ::CreateThread(nullptr, 0, worker, nullptr, 0, nullptr);
  // CHECK-MESSAGES: :[[@LINE-1]]:14: warning: unload race: CreateThread starts [modref-thread-without-pin]
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       reinterpret_cast<LPCWSTR>(&worker), &self);
  ::CloseHandle(h);
}
