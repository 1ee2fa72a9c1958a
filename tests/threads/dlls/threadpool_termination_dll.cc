// A test DLL that uses the thread pool at process exit, as the WinHTTP customer's global did.
// threadpool_termination_host.exe loads it, calls arm(log) and returns from wmain with the DLL
// still loaded, so the DLL's atexit handler and global destructor run inside ExitProcess. By then
// Windows has "electrified" the pool (any call ends the process in TppRaiseInvalidParameter) and
// killed every other thread; Wine does neither crash nor refuse. Both hooks log what modref did:
//   - modref::submit and the objects' submit/set/stop must return kFailedPrecondition;
//   - the destructors must leak their pool objects instead of stopping, waiting or closing them.
// One of the objects has a callback blocked for ever: a destructor that waited would hang the
// child, which the test sees as a timeout. Compiled with MODREF_TEST_SEAMS for the counters.
#include <windows.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <optional>
#include <string>

#include <modref/dll_main.h>
#include <modref/threadpool.h>

namespace {

// Plain storage: it must outlive every hook that writes to it.
wchar_t g_log_path[MAX_PATH * 2] = {};
HANDLE g_never = nullptr;  // never signalled: the blocked callback waits on it

void log_line(const std::string& text) {
  if (g_log_path[0] == L'\0') return;
  HANDLE file = ::CreateFileW(g_log_path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE,
                              nullptr, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file == INVALID_HANDLE_VALUE) return;
  const std::string line = text + "\n";
  DWORD written = 0;
  ::WriteFile(file, line.data(), static_cast<DWORD>(line.size()), &written, nullptr);
  ::CloseHandle(file);
}

std::string describe(const absl::Status& status) {
  const bool names_reason =
      status.message().find("process termination") != absl::string_view::npos &&
      status.message().find("thread pool must not be used") != absl::string_view::npos;
  return absl::StrCat(absl::StatusCodeToString(status.code()), names_reason ? "(named)" : "");
}

struct pool_objects {
  std::optional<modref::threadpool_work<modref::on_destroy::wait>> work;
  std::optional<modref::threadpool_timer<modref::on_destroy::cancel>> timer;
  std::optional<modref::threadpool_wait<modref::on_destroy::wait>> wait;
};

// The global whose destructor runs at process exit.
struct exit_probe {
  pool_objects objects;

  ~exit_probe() {
    log_line(absl::StrCat("global terminating=", modref::process_terminating() ? 1 : 0,
                          " submit=", describe(modref::submit([] {}))));
    if (objects.work && objects.timer && objects.wait) {
      log_line(absl::StrCat(
          "global work.submit=", describe(objects.work->submit()),
          " timer.set=", describe(objects.timer->set(std::chrono::milliseconds(1))),
          " timer.stop=", describe(objects.timer->stop()),
          " wait.set=", describe(objects.wait->set(g_never)), " create=",
          describe(modref::threadpool_work<modref::on_destroy::wait>::create([] {}).status())));
    }
    objects.work.reset();
    objects.timer.reset();
    objects.wait.reset();
    log_line(
        absl::StrCat("global destroyed abandoned=",
                     modref::detail::g_threadpool_test_seams.abandoned_for_termination.load()));
  }
};
exit_probe g_probe;

void at_exit_hook() {
  log_line(absl::StrCat("atexit terminating=", modref::process_terminating() ? 1 : 0,
                        " submit=", describe(modref::submit([] {}))));
}

}  // namespace

extern "C" {

// Sets the log path, creates the pool objects and waits until the work callback is running (it
// then blocks for ever) and the periodic timer has fired. Returns 0, or a non-zero step number.
__declspec(dllexport) int arm(const wchar_t* log_path) {
  std::wcsncpy(g_log_path, log_path, std::size(g_log_path) - 1);
  g_never = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  HANDLE started = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  HANDLE ticked = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (g_never == nullptr || started == nullptr || ticked == nullptr) return 1;

  auto work = modref::threadpool_work<modref::on_destroy::wait>::create([started] {
    ::SetEvent(started);
    ::WaitForSingleObject(g_never, INFINITE);  // only process exit ends this callback
  });
  auto timer = modref::threadpool_timer<modref::on_destroy::cancel>::create(
      [ticked] { ::SetEvent(ticked); });
  auto wait = modref::threadpool_wait<modref::on_destroy::wait>::create([] {});
  if (!work.ok() || !timer.ok() || !wait.ok()) return 2;
  g_probe.objects.work.emplace(*std::move(work));
  g_probe.objects.timer.emplace(*std::move(timer));
  g_probe.objects.wait.emplace(*std::move(wait));
  if (!g_probe.objects.work->submit().ok()) return 3;
  if (!g_probe.objects.timer->set(std::chrono::milliseconds(0), std::chrono::milliseconds(5))
           .ok()) {
    return 4;
  }
  if (!g_probe.objects.wait->set(g_never).ok()) return 5;
  // Bounded rendezvous: generous for a loaded machine, and the host reports a timeout as failure.
  constexpr DWORD kBoundMs = 20'000;
  if (::WaitForSingleObject(started, kBoundMs) != WAIT_OBJECT_0) return 6;
  if (::WaitForSingleObject(ticked, kBoundMs) != WAIT_OBJECT_0) return 7;
  if (std::atexit(&at_exit_hook) != 0) return 8;
  log_line("armed");
  return 0;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void* reserved) {
  const BOOL ok = modref::dll_main(instance, reason, reserved);
  if (reason == DLL_PROCESS_DETACH) {
    log_line(absl::StrCat("detach reserved=", reserved != nullptr ? 1 : 0));
  }
  return ok;
}

}  // extern "C"
