// link_mode_<mode>.dll — the unload-while-running scenario, built once per MinGW link mode (see
// CMakeLists.txt here). link_mode_start() starts a modref worker and queues a modref pool
// callback, both held on the host's gate, and returns; the host frees the DLL at once and only
// then opens the gate. The worker and the callback hold the module's pins; the last of them to
// finish unloads the DLL from its own thread, which then exits. Whatever per-thread state the
// runtime left on that thread must not need the DLL's code to be cleaned up.
#include <windows.h>

#include <modref/thread.h>
#include <modref/threadpool.h>

#include "link_mode_io.h"

namespace {
// Bound on the gate: the host opens it right after FreeLibrary; only a broken host reaches this.
constexpr DWORD kGateBoundMs = 30000;

void finish_one(link_mode_io* io) {
  ::WaitForSingleObject(io->gate, kGateBoundMs);
  if (::InterlockedIncrement(&io->finished) == kLinkModeOperations) ::SetEvent(io->done);
}
}  // namespace

extern "C" __declspec(dllexport) DWORD link_mode_start(link_mode_io* io) {
  absl::Status started = modref::start_detached(finish_one, io);
  if (started.ok()) started = modref::submit([io] { finish_one(io); });
  return started.ok() ? 0 : modref::win32_error_code(started).value_or(ERROR_GEN_FAILURE);
}
