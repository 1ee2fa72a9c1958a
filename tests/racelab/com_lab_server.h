// The COM plumbing shared by the race lab's two in-process servers (com_server_raw_dll.cc and
// com_server_modref_dll.cc; include it from exactly one file per DLL). It is ordinary,
// hand-written COM: one class, a static class factory, LockServer, and a DllCanUnloadNow that
// counts objects and locks. That vote is right for the objects; it knows nothing about a worker
// that an object started, which is the point of both rows.
//
// Each DLL defines, before including this file, `lab_object_counter` (a member type of every
// object: empty in the raw server, modref::counted_com_object in the modref one), and after it
// the three functions declared below.
#ifndef MODREF_TESTS_RACELAB_COM_LAB_SERVER_H_
#define MODREF_TESTS_RACELAB_COM_LAB_SERVER_H_

#include <windows.h>
#include <objbase.h>

#include <new>

#include "com_lab.h"

// The CLSID this DLL serves.
const CLSID& lab_server_clsid();
// Starts the worker that ILabJob::Start() promises; its body is lab_worker_body(io).
HRESULT lab_start_worker(com_lab_io* io);
// This DLL's DllCanUnloadNow answer: true for S_OK. `objects_unused` is the object-count vote.
bool lab_vote(bool objects_unused);

namespace {

com_lab_io* g_io = nullptr;  // host memory, set by Start(): DllCanUnloadNow reports its votes there
LONG g_objects = 0;          // live lab_job objects
LONG g_locks = 0;            // LockServer(TRUE) calls not yet balanced

class lab_job final : public ILabJob {
 public:
  lab_job() { ::InterlockedIncrement(&g_objects); }
  ~lab_job() { ::InterlockedDecrement(&g_objects); }
  lab_job(const lab_job&) = delete;  // a COM object is only ever created by the factory
  lab_job& operator=(const lab_job&) = delete;

  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID iid, void** out) override {
    if (out == nullptr) return E_POINTER;
    if (::IsEqualIID(iid, IID_IUnknown) || ::IsEqualIID(iid, kIidLabJob)) {
      *out = static_cast<ILabJob*>(this);
      AddRef();
      return S_OK;
    }
    *out = nullptr;
    return E_NOINTERFACE;
  }
  ULONG STDMETHODCALLTYPE AddRef() override {
    return static_cast<ULONG>(::InterlockedIncrement(&refs_));
  }
  ULONG STDMETHODCALLTYPE Release() override {
    const LONG left = ::InterlockedDecrement(&refs_);
    if (left == 0) delete this;
    return static_cast<ULONG>(left);
  }
  HRESULT STDMETHODCALLTYPE Start(com_lab_io* io) override {
    if (io == nullptr) return E_POINTER;
    g_io = io;
    return lab_start_worker(io);
  }

 private:
  // Nothing in the raw server (so unused there); modref's vote in the modref one.
  [[maybe_unused]] lab_object_counter counted_;
  LONG refs_ = 1;
};

// What every worker does, on its own thread: wait for the host's go-ahead, then (with `produce`)
// hand the client a new object, report, and return into this DLL's code.
void lab_worker_body(com_lab_io* io) {
  ::WaitForSingleObject(io->go, INFINITE);  // returns into this DLL's code: must still be mapped
  if (io->produce) {
    io->made = static_cast<ILabJob*>(new (std::nothrow) lab_job);  // the client's reference
    io->worker = ::OpenThread(SYNCHRONIZE, FALSE, ::GetCurrentThreadId());
  }
  ::SetEvent(io->done);
}

// A static factory, as most hand-written servers have: it lives as long as the DLL, so its own
// references are not counted; LockServer is.
class lab_factory final : public IClassFactory {
 public:
  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID iid, void** out) override {
    if (out == nullptr) return E_POINTER;
    if (::IsEqualIID(iid, IID_IUnknown) || ::IsEqualIID(iid, IID_IClassFactory)) {
      *out = static_cast<IClassFactory*>(this);
      return S_OK;
    }
    *out = nullptr;
    return E_NOINTERFACE;
  }
  ULONG STDMETHODCALLTYPE AddRef() override { return 2; }
  ULONG STDMETHODCALLTYPE Release() override { return 1; }
  HRESULT STDMETHODCALLTYPE CreateInstance(IUnknown* outer, REFIID iid, void** out) override {
    if (out == nullptr) return E_POINTER;
    *out = nullptr;
    if (outer != nullptr) return CLASS_E_NOAGGREGATION;
    auto* job = new (std::nothrow) lab_job;
    if (job == nullptr) return E_OUTOFMEMORY;
    const HRESULT hr = job->QueryInterface(iid, out);
    job->Release();  // the creation reference; QueryInterface took the caller's
    return hr;
  }
  HRESULT STDMETHODCALLTYPE LockServer(BOOL lock) override {
    if (lock) {
      ::InterlockedIncrement(&g_locks);
    } else {
      ::InterlockedDecrement(&g_locks);
    }
    return S_OK;
  }
};

lab_factory g_factory;

}  // namespace

STDAPI DllGetClassObject(REFCLSID clsid, REFIID iid, void** out) {
  if (out == nullptr) return E_POINTER;
  *out = nullptr;
  if (!::IsEqualCLSID(clsid, lab_server_clsid())) return CLASS_E_CLASSNOTAVAILABLE;
  return g_factory.QueryInterface(iid, out);
}

// The vote COM asks for: objects and locks, or what lab_vote() makes of them.
STDAPI DllCanUnloadNow() {
  const bool unused = lab_vote(::InterlockedCompareExchange(&g_objects, 0, 0) == 0 &&
                               ::InterlockedCompareExchange(&g_locks, 0, 0) == 0);
  if (g_io != nullptr) ::InterlockedIncrement(unused ? &g_io->votes_unload : &g_io->votes_keep);
  return unused ? S_OK : S_FALSE;
}

#endif  // MODREF_TESTS_RACELAB_COM_LAB_SERVER_H_
