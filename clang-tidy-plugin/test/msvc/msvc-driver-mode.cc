// An MSVC project's command line (cl.exe driver mode, /D_WINDLL as MSBuild defines it for a DLL
// project), run by ctest with msvc-flags.txt. This machine has no MSVC or Windows SDK headers, so
// the file declares the two functions it uses as the SDK and the UCRT do.
typedef unsigned long DWORD;
typedef void* HANDLE;
typedef DWORD(__stdcall* LPTHREAD_START_ROUTINE)(void*);
extern "C" __declspec(dllimport) HANDLE __stdcall CreateThread(void*, unsigned long long,
                                                               LPTHREAD_START_ROUTINE, void*, DWORD,
                                                               DWORD*);
extern "C" unsigned long long __cdecl _beginthreadex(void*, unsigned, unsigned(__stdcall*)(void*),
                                                     void*, unsigned, unsigned*);

static DWORD __stdcall worker(void*) { return 0; }
static unsigned __stdcall crt_worker(void*) { return 0; }

void start() {
  CreateThread(nullptr, 0, worker, nullptr, 0, nullptr);
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: unload race: CreateThread starts a thread in a DLL with no pin on the module taken before the call [modref-thread-without-pin]
  // The UCRT's _beginthreadex pins the module of crt_worker itself: not reported for MSVC.
  _beginthreadex(nullptr, 0, crt_worker, nullptr, 0, nullptr);
}
