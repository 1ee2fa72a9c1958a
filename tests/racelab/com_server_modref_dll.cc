// racelab_com_modref.dll — the same in-process COM server as racelab_com_raw.dll, written with
// modref.
//   - com_server_unloaded_by_com: the worker is started by modref::start_detached, and the vote
//     is left exactly as in the raw server (objects only), so COM does call FreeLibrary while the
//     worker runs: the row shows that the worker's own pin is enough.
//   - com_object_from_worker: the vote is modref::dll_can_unload_now() from <modref/com_server.h>,
//     and each object holds a modref::counted_com_object: objects and work share one counter, so
//     COM keeps the DLL while the worker runs, and the object it creates is counted before the
//     worker stops counting.
#include <modref/com_server.h>
#include <modref/dll_main.h>
#include <modref/thread.h>

using lab_object_counter = modref::counted_com_object;

#include "com_lab_server.h"

const CLSID& lab_server_clsid() { return kClsidLabModref; }

// The pin is taken here, before Start() returns; the worker ends with FreeLibraryAndExitThread.
HRESULT lab_start_worker(com_lab_io* io) {
  const absl::Status started = modref::start_detached(lab_worker_body, io);
  if (started.ok()) return S_OK;
  return HRESULT_FROM_WIN32(modref::win32_error_code(started).value_or(ERROR_GEN_FAILURE));
}

bool lab_vote(bool objects_unused) {
  if (g_io != nullptr && g_io->modref_vote) return modref::dll_can_unload_now() == S_OK;
  return objects_unused;  // com_server_unloaded_by_com: the raw server's vote, on purpose
}

MODREF_DEFINE_DLLMAIN();
