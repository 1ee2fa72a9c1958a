// racelab_com_raw.dll — an in-process COM server whose method starts a worker thread, written the
// way obs-virtualcam-module's was (obsproject/obs-studio #4243, #10566; Firefox bug 1707060):
// DllCanUnloadNow counts objects, and nothing keeps the DLL loaded for the worker. When the
// client releases its object, the next CoFreeUnusedLibraries(Ex) hears S_OK and COM calls
// FreeLibrary while the worker still has code of this DLL to run. This is the bug, on purpose.
#include "com_lab_server.h"

namespace {

DWORD WINAPI wait_then_signal(void* raw) {
  auto* io = static_cast<com_lab_io*>(raw);
  ::WaitForSingleObject(io->go, INFINITE);  // returns into this DLL's code: must still be mapped
  ::SetEvent(io->done);
  return 0;
}

}  // namespace

const CLSID& lab_server_clsid() { return kClsidLabRaw; }

// Wrong: no loader reference for the worker; the object count says nothing about it either.
HRESULT lab_start_worker(com_lab_io* io) {
  HANDLE worker = ::CreateThread(nullptr, 0, wait_then_signal, io, 0, nullptr);
  if (worker == nullptr) return HRESULT_FROM_WIN32(::GetLastError());
  ::CloseHandle(worker);
  return S_OK;
}
