// The package consumers' DLL: an asynchronous export written the way a user's plugin would write
// it with modref. The worker waits for the host's go-ahead, which the host gives only after it has
// called FreeLibrary, then signals completion: without modref's pin the worker would wake up in
// unmapped code.
#include <windows.h>

#include <string>

#include <modref/thread.h>
#include <modref/win32_error.h>

namespace {

// Runs on the new thread. `name` was copied into modref's context by start_detached.
void work(const std::wstring& name, HANDLE go, HANDLE done) {
  // Bounded only so that a broken host cannot hang the test for ever.
  if (::WaitForSingleObject(go, 30000) == WAIT_OBJECT_0 && name == L"consumer") ::SetEvent(done);
}

}  // namespace

extern "C" __declspec(dllexport) DWORD start_async_work(HANDLE go, HANDLE done) {
  absl::Status started = modref::start_detached(work, std::wstring(L"consumer"), go, done);
  return started.ok() ? ERROR_SUCCESS
                      : modref::win32_error_code(started).value_or(ERROR_GEN_FAILURE);
}
