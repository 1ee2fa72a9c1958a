// racelab_com_modref.dll — the same in-process COM server as racelab_com_raw.dll, with the worker
// started by modref::start_detached. DllCanUnloadNow is left exactly as in the raw server (objects
// only), so COM does call FreeLibrary while the worker runs: the row shows that the worker's own
// pin is enough. (A real server would vote with modref::dll_can_unload_now() from
// <modref/com_server.h>; examples/com_server/ does.)
#include <modref/dll_main.h>
#include <modref/thread.h>

#include "com_lab_server.h"

namespace {

void wait_then_signal(com_lab_io* io) {
  ::WaitForSingleObject(io->go, INFINITE);  // returns into this DLL's code: still mapped (pinned)
  ::SetEvent(io->done);
}

}  // namespace

const CLSID& lab_server_clsid() { return kClsidLabModref; }

// The pin is taken here, before Start() returns; the worker ends with FreeLibraryAndExitThread.
HRESULT lab_start_worker(com_lab_io* io) {
  const absl::Status started = modref::start_detached(wait_then_signal, io);
  if (started.ok()) return S_OK;
  return HRESULT_FROM_WIN32(modref::win32_error_code(started).value_or(ERROR_GEN_FAILURE));
}

MODREF_DEFINE_DLLMAIN();
