// word_counter_server.dll — an in-process COM server whose method starts background work.
//
// The COM runtime decides when this DLL is unloaded: when a client calls
// CoFreeUnusedLibraries(Ex), COM asks DllCanUnloadNow and calls FreeLibrary on S_OK. A server
// that counts only its objects says S_OK as soon as the client has released them, even while
// work its objects started is still running, and COM unmaps that work's code. That is how
// obs-virtualcam-module crashed Firefox (Firefox bug 1707060).
//
// Here the work is started with modref, and the module counting uses <modref/com_server.h>:
//   - modref::start_detached and modref::submit pin this DLL before CountWords() returns and let
//     the pin go only after the work has ended (FreeLibraryAndExitThread,
//     FreeLibraryWhenCallbackReturns). COM's FreeLibrary can never unmap running work.
//   - modref::counted_com_object counts each object, modref::com_lock_server counts LockServer,
//     and modref::dll_can_unload_now() answers for objects, locks and modref's work together.
//     So COM keeps the DLL while work runs, and frees it at its next CoFreeUnusedLibraries(Ex)
//     after the work has ended.
#include <windows.h>
#include <objbase.h>

#include <atomic>
#include <new>
#include <string>
#include <utility>

#include <modref/com_server.h>
#include <modref/dll_main.h>
#include <modref/thread.h>
#include <modref/threadpool.h>

#include "word_counter.h"

namespace {

ULONG count_words(const std::wstring& text) {
  ULONG words = 0;
  bool in_word = false;
  for (wchar_t c : text) {
    const bool space = c == L' ' || c == L'\t' || c == L'\n' || c == L'\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

HRESULT hresult_of(const absl::Status& status) {
  if (status.ok()) return S_OK;
  if (absl::IsResourceExhausted(status)) return E_OUTOFMEMORY;
  return HRESULT_FROM_WIN32(modref::win32_error_code(status).value_or(ERROR_GEN_FAILURE));
}

// One reference to the client's sink, owned by a piece of work: the work's context releases it
// when it is destroyed, on the work's own thread, while this DLL is still pinned.
class sink_ref {
 public:
  explicit sink_ref(IWordCountSink* sink) noexcept : sink_(sink) { sink_->AddRef(); }
  sink_ref(sink_ref&& other) noexcept : sink_(std::exchange(other.sink_, nullptr)) {}
  sink_ref(const sink_ref&) = delete;  // one reference, one owner
  sink_ref& operator=(const sink_ref&) = delete;
  sink_ref& operator=(sink_ref&&) = delete;  // never reassigned
  ~sink_ref() {
    if (sink_ != nullptr) sink_->Release();
  }
  IWordCountSink* operator->() const noexcept { return sink_; }

 private:
  IWordCountSink* sink_;
};

class word_counter final : public IWordCounter {
 public:
  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID iid, void** out) override {
    if (out == nullptr) return E_POINTER;
    if (::IsEqualIID(iid, IID_IUnknown) || ::IsEqualIID(iid, kIidWordCounter)) {
      *out = static_cast<IWordCounter*>(this);
      AddRef();
      return S_OK;
    }
    *out = nullptr;
    return E_NOINTERFACE;
  }
  ULONG STDMETHODCALLTYPE AddRef() override {
    return refs_.fetch_add(1, std::memory_order_relaxed) + 1;  // relaxed: as any refcount
  }
  ULONG STDMETHODCALLTYPE Release() override {
    const ULONG left = refs_.fetch_sub(1, std::memory_order_acq_rel) - 1;  // acq_rel: may delete
    if (left == 0) delete this;
    return left;
  }

  // Returns as soon as both pieces of work are started. The client may release this object and
  // call CoFreeUnusedLibrariesEx the moment it returns.
  HRESULT STDMETHODCALLTYPE CountWords(const wchar_t* text, IWordCountSink* sink) override {
    if (text == nullptr || sink == nullptr) return E_POINTER;
    try {
      // The caller's buffer is the caller's: each piece of work gets its own copy.
      const std::wstring copy(text);
      absl::Status started = modref::start_detached(
          [](std::wstring words, sink_ref to) { to->Counted(L"thread", count_words(words)); }, copy,
          sink_ref(sink));
      if (!started.ok()) return hresult_of(started);
      absl::Status queued = modref::submit(
          [words = copy, to = sink_ref(sink)] { to->Counted(L"pool", count_words(words)); });
      return hresult_of(queued);  // on failure the thread still reports; the caller knows
    } catch (const std::bad_alloc&) {
      return E_OUTOFMEMORY;  // a COM method never lets an exception escape
    }
  }

 private:
  modref::counted_com_object counted_;  // DllCanUnloadNow sees this object while it lives
  std::atomic<ULONG> refs_{1};
};

// A static class factory: it lives as long as the DLL, so its own references are not counted;
// LockServer is, through modref::com_lock_server.
class word_counter_factory final : public IClassFactory {
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
    auto* counter = new (std::nothrow) word_counter;
    if (counter == nullptr) return E_OUTOFMEMORY;
    const HRESULT hr = counter->QueryInterface(iid, out);
    counter->Release();  // the creation reference; QueryInterface took the caller's
    return hr;
  }
  HRESULT STDMETHODCALLTYPE LockServer(BOOL lock) override {
    return modref::com_lock_server(lock);  // an unbalanced FALSE gets E_UNEXPECTED
  }
};

word_counter_factory g_factory;

}  // namespace

STDAPI DllGetClassObject(REFCLSID clsid, REFIID iid, void** out) {
  if (out == nullptr) return E_POINTER;
  *out = nullptr;
  if (!::IsEqualCLSID(clsid, kClsidWordCounter)) return CLASS_E_CLASSNOTAVAILABLE;
  return g_factory.QueryInterface(iid, out);
}

// Objects, server locks and modref's work of this DLL, read as one count.
STDAPI DllCanUnloadNow() { return modref::dll_can_unload_now(); }

// Forwards DllMain to modref (it must know when the DLL is being unloaded or the process ends).
MODREF_DEFINE_DLLMAIN();
