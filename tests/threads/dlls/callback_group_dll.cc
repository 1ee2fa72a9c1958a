// A test DLL with a modref::callback_group as a DLL global: its asynchronous entry point queues a
// callback in the group and returns; the host FreeLibrary's the DLL at once and only then opens
// `gate`. The callback's pin keeps the DLL loaded; when the callback hands that pin to
// FreeLibraryWhenCallbackReturns, the unload runs DLL_PROCESS_DETACH on the pool thread, under the
// loader lock, and destroys the global group there: its destructor must neither wait (refused
// under the loader lock; the group's count is already zero) nor crash, and the DLL must unload.
#include <windows.h>

#include <modref/callback_group.h>
#include <modref/dll_main.h>

MODREF_DEFINE_DLLMAIN();

namespace {

constexpr DWORD kGateBoundMs = 30'000;

modref::callback_group g_group{modref::threadpool_options{}};

}  // namespace

extern "C" {

// Queues one callback in the global group. Returns 0 or the failure's Win32 error.
__declspec(dllexport) DWORD group_submit(HANDLE gate, HANDLE done) {
  const absl::Status queued = g_group.submit([gate, done] {
    ::WaitForSingleObject(gate, kGateBoundMs);
    ::SetEvent(done);
  });
  return queued.ok() ? 0 : modref::win32_error_code(queued).value_or(ERROR_GEN_FAILURE);
}

__declspec(dllexport) long group_outstanding() { return g_group.outstanding(); }

}  // extern "C"
