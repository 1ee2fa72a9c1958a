// racelab_com_raw.dll — an in-process COM server whose method starts a worker thread, written the
// way the field writes it. These are the bugs, on purpose.
//   - com_server_unloaded_by_com: as obs-virtualcam-module (obsproject/obs-studio #4243, #10566;
//     Firefox bug 1707060): nothing keeps the DLL loaded for the worker. When the client releases
//     its object, the next CoFreeUnusedLibraries(Ex) hears S_OK and COM calls FreeLibrary while
//     the worker still has code of this DLL to run.
//   - com_object_from_worker: the worker is pinned correctly by hand (pattern 1's raw fix), and
//     the vote counts objects, as ATL, WRL and C++/WinRT module counts do. The worker creates an
//     object after COM has heard S_OK and let the DLL go; the worker's pin dies with the worker,
//     and the object outlives the image its code is in.
#include <windows.h>

struct lab_object_counter {};  // the raw server counts its objects in com_lab_server.h only

#include "com_lab_server.h"

namespace {

// com_server_unloaded_by_com: no pin.
DWORD WINAPI unpinned_worker(void* raw) {
  lab_worker_body(static_cast<com_lab_io*>(raw));
  return 0;
}

// com_object_from_worker: pinned by the creator, released by FreeLibraryAndExitThread.
struct pinned_args {
  HMODULE self;
  com_lab_io* io;
};
DWORD WINAPI pinned_worker(void* raw) {
  const pinned_args args = *static_cast<pinned_args*>(raw);
  delete static_cast<pinned_args*>(raw);
  lab_worker_body(args.io);
  ::FreeLibraryAndExitThread(args.self, 0);
}

}  // namespace

const CLSID& lab_server_clsid() { return kClsidLabRaw; }

HRESULT lab_start_worker(com_lab_io* io) {
  if (!io->produce) {
    // Wrong: no loader reference for the worker; the object count says nothing about it either.
    HANDLE worker = ::CreateThread(nullptr, 0, unpinned_worker, io, 0, nullptr);
    if (worker == nullptr) return HRESULT_FROM_WIN32(::GetLastError());
    ::CloseHandle(worker);
    return S_OK;
  }
  auto* args = new (std::nothrow) pinned_args{nullptr, io};
  if (args == nullptr) return E_OUTOFMEMORY;
  if (!::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                            reinterpret_cast<LPCWSTR>(&pinned_worker), &args->self)) {
    const DWORD error = ::GetLastError();
    delete args;
    return HRESULT_FROM_WIN32(error);
  }
  HANDLE worker = ::CreateThread(nullptr, 0, pinned_worker, args, 0, nullptr);
  if (worker == nullptr) {
    const DWORD error = ::GetLastError();
    ::FreeLibrary(args->self);
    delete args;
    return HRESULT_FROM_WIN32(error);
  }
  ::CloseHandle(worker);
  return S_OK;
}

// Wrong for com_object_from_worker: objects only, as module counts do.
bool lab_vote(bool objects_unused) { return objects_unused; }
