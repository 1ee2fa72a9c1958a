// modref-freed-parameter, positive (the check applies to EXE code too: the freed parameter is a
// race in any module; seed 002's program is an EXE).
#include <windows.h>

#include <memory>

struct params {
  char text[32];
};

static DWORD WINAPI reader(void*) { return 0; }
static void CALLBACK callback(PTP_CALLBACK_INSTANCE, void*) {}

void address_of_a_local() {
  params p{};
  ::CloseHandle(::CreateThread(nullptr, 0, reader, &p, 0, nullptr));
  // CHECK-MESSAGES: :[[@LINE-1]]:52: warning: freed parameter: the thread's context is the address of a local ('p'), which dies when 'address_of_a_local' returns [modref-freed-parameter]
}

void local_array() {
  char buffer[64] = "seed 002";
  ::CloseHandle(::CreateThread(nullptr, 0, reader, buffer, 0, nullptr));
  // CHECK-MESSAGES: :[[@LINE-1]]:52: warning: freed parameter: the thread's context is a local array ('buffer') [modref-freed-parameter]
}

void smart_pointer_get() {
  auto p = std::make_unique<params>();
  ::CloseHandle(::CreateThread(nullptr, 0, reader, p.get(), 0, nullptr));
  // CHECK-MESSAGES: :[[@LINE-1]]:52: warning: freed parameter: the thread's context is get() of a local smart pointer ('p') [modref-freed-parameter]
}

void pool_callback_context() {
  params p{};
  ::TrySubmitThreadpoolCallback(callback, &p, nullptr);
  // CHECK-MESSAGES: :[[@LINE-1]]:43: warning: freed parameter: the callback's context is the address of a local ('p') [modref-freed-parameter]
}
