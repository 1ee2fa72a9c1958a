// A test DLL with asynchronous entry points built on modref::thread, modref::jthread and
// modref::start_detached. Each worker first waits on a "go" event the host sets only AFTER it has
// called FreeLibrary, then signals "done": without modref's pin the worker would wake up in
// unmapped code. Built with MODREF_TEST_SEAMS so the host can inject pin and CreateThread failures.
#include <windows.h>

#include <memory>

#include <modref/thread.h>

namespace {

// Waits for the host's go-ahead, then reports completion. The bound only keeps a broken test from
// hanging for ever; the host sets `go` right after FreeLibrary.
void wait_then_signal(HANDLE go, HANDLE done) {
  ::WaitForSingleObject(go, 30000);
  ::SetEvent(done);
}

DWORD code_of(const absl::Status& status) {
  return status.ok() ? 0 : modref::win32_error_code(status).value_or(ERROR_GEN_FAILURE);
}

}  // namespace

extern "C" {

__declspec(dllexport) DWORD start_with_detached(HANDLE go, HANDLE done) {
  return code_of(modref::start_detached(wait_then_signal, go, done));
}

__declspec(dllexport) DWORD start_with_thread(HANDLE go, HANDLE done) {
  absl::StatusOr<modref::thread> t =
      modref::thread::start(modref::thread_options{.name = L"modref test worker"},
                            [go, done] { wait_then_signal(go, done); });
  if (!t.ok()) return code_of(t.status());
  t->detach();
  return 0;
}

__declspec(dllexport) DWORD start_with_jthread(HANDLE go, HANDLE done) {
  // The context owns a unique_ptr: its destructor runs on the worker before the module is released.
  auto payload = std::make_unique<int>(7);
  absl::StatusOr<modref::jthread> t = modref::jthread::start(
      [go, done](std::stop_token stop, std::unique_ptr<int> p) {
        if (!stop.stop_requested() && *p == 7) wait_then_signal(go, done);
      },
      std::move(payload));
  if (!t.ok()) return code_of(t.status());
  t->detach();
  return 0;
}

__declspec(dllexport) void inject_pin_failure(DWORD error) {
  modref::detail::g_test_seams.fail_next_pin.store(error);
}

__declspec(dllexport) void inject_thread_create_failure(DWORD error) {
  modref::detail::g_test_seams.fail_next_thread_create.store(error);
}

__declspec(dllexport) long live_contexts() { return modref::activity().live_contexts; }
__declspec(dllexport) long live_pins() { return modref::activity().live_pins; }

}  // extern "C"
