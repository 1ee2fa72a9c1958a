// com_server.exe — a COM client that lets the COM runtime unload word_counter_server.dll while
// the work the server started is still running.
//
// Nothing here calls LoadLibrary or FreeLibrary: COM loads the server for CoCreateInstance and
// frees it from CoFreeUnusedLibrariesEx(0, 0) when DllCanUnloadNow says S_OK. The host
//   1. registers the class (HKLM\Software\Classes\CLSID\{...}\InprocServer32, ThreadingModel
//      Both) and creates it in the multithreaded apartment;
//   2. calls CountWords(), which starts a modref thread and a modref pool callback; both report
//      to the host's sink, which holds them there until the host has looked;
//   3. releases its only object and calls CoFreeUnusedLibrariesEx(0, 0) mid-flight: the server
//      stays loaded (its DllCanUnloadNow counts the running work, and the work is pinned anyway);
//   4. lets the work finish, and sees COM free the server at its next CoFreeUnusedLibrariesEx;
//   5. shows LockServer keeping the server loaded, and an unbalanced LockServer(FALSE) refused.
// It removes the registration before it exits.
#include <windows.h>
#include <objbase.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "example_support.h"
#include "word_counter.h"

namespace {

constexpr const char* kName = "com_server";
constexpr const wchar_t* kServerName = L"word_counter_server.dll";
constexpr const wchar_t* kText = L"the quick brown fox jumps over the lazy dog";

// Bound for each rendezvous with the server's work. Counting nine words takes microseconds; the
// bound only turns a broken build into a failure instead of a hang (Wine starts threads through
// wineserver, which is slow on a busy CI machine).
constexpr DWORD kBoundMs = 30'000;

// The class registration, written by this process so that a fresh Wine prefix works, and removed
// by the destructor. Wine 8's combase ignored the same keys under HKCU, so they go to HKLM; on
// Windows that needs elevation, and without it they go to HKCU\Software\Classes, which Windows
// merges into HKEY_CLASSES_ROOT.
class class_registration {
 public:
  class_registration(const CLSID& clsid, const std::wstring& dll_path) {
    wchar_t text[64];
    if (::StringFromGUID2(clsid, text, static_cast<int>(std::size(text))) == 0) return;
    key_ = std::wstring(L"Software\\Classes\\CLSID\\") + text;
    for (HKEY root : {HKEY_LOCAL_MACHINE, HKEY_CURRENT_USER}) {
      HKEY server = nullptr;
      const LONG created = ::RegCreateKeyExW(root, (key_ + L"\\InprocServer32").c_str(), 0, nullptr,
                                             0, KEY_WRITE, nullptr, &server, nullptr);
      if (created == ERROR_ACCESS_DENIED) continue;  // not elevated (Windows): use HKCU
      if (created != ERROR_SUCCESS) return;
      root_ = root;
      const std::wstring model = L"Both";  // free-threaded or apartment clients alike
      ok_ = set(server, nullptr, dll_path) && set(server, L"ThreadingModel", model);
      ::RegCloseKey(server);
      return;
    }
  }
  class_registration(const class_registration&) = delete;  // one set of keys, one owner
  class_registration& operator=(const class_registration&) = delete;
  ~class_registration() {
    if (root_ != nullptr) ::RegDeleteTreeW(root_, key_.c_str());
  }
  bool ok() const { return ok_; }

 private:
  static bool set(HKEY key, const wchar_t* name, const std::wstring& value) {
    return ::RegSetValueExW(key, name, 0, REG_SZ, reinterpret_cast<const BYTE*>(value.c_str()),
                            static_cast<DWORD>((value.size() + 1) * sizeof(wchar_t))) ==
           ERROR_SUCCESS;
  }
  HKEY root_ = nullptr;
  std::wstring key_;
  bool ok_ = false;
};

// The host's sink: the server's work calls Counted() on its own threads. Each call records the
// result and waits until the host has looked, so the host can act while the work is provably
// still in flight (running host code, with the server's code below it on the stack).
class sink final : public IWordCountSink {
 public:
  example::event thread_arrived, pool_arrived, host_has_looked;
  example::event all_released;  // set when only the host's own reference is left
  std::atomic<ULONG> thread_words{0}, pool_words{0};

  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID iid, void** out) override {
    if (out == nullptr) return E_POINTER;
    if (::IsEqualIID(iid, IID_IUnknown) || ::IsEqualIID(iid, kIidWordCountSink)) {
      *out = static_cast<IWordCountSink*>(this);
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
    const ULONG left = refs_.fetch_sub(1, std::memory_order_acq_rel) - 1;  // acq_rel: see below
    if (left == 1) all_released.set();  // the work's references are gone (the host keeps one)
    return left;
  }
  HRESULT STDMETHODCALLTYPE Counted(const wchar_t* how, ULONG words) override {
    const bool on_thread = std::wstring(how) == L"thread";
    std::printf("[%ls] Counted: %lu words; waiting until the host has looked\n", how, words);
    (on_thread ? thread_words : pool_words).store(words, std::memory_order_relaxed);
    (on_thread ? thread_arrived : pool_arrived).set();  // SetEvent orders the store before it
    host_has_looked.wait(kBoundMs);
    return S_OK;
  }

 private:
  std::atomic<ULONG> refs_{1};  // the host's own; never deleted (it lives in main)
};

// Calls CoFreeUnusedLibrariesEx(0, 0) until COM has freed the server, within a bound. Twice per
// round: Windows documents that an S_OK makes the DLL a candidate that a later call frees; Wine 8
// frees it in the first call when the delay is 0. The loop is needed because the work's last
// steps (destroying its context) come just after the host sees its sink released.
bool com_frees_server_within(std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (example::is_loaded(kServerName)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    ::CoFreeUnusedLibrariesEx(0, 0);
    ::CoFreeUnusedLibrariesEx(0, 0);
    if (example::is_loaded(kServerName)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// What the server itself would answer COM right now (the host looks it up in the loaded DLL).
HRESULT server_vote() {
  HMODULE server = ::GetModuleHandleW(kServerName);
  if (server == nullptr) return E_FAIL;
  using can_unload_fn = HRESULT(STDAPICALLTYPE*)();
  auto can_unload = reinterpret_cast<can_unload_fn>(
      reinterpret_cast<void*>(::GetProcAddress(server, "DllCanUnloadNow")));
  return can_unload != nullptr ? can_unload() : E_FAIL;
}

}  // namespace

int wmain() {
  example::unbuffered_output();
  std::printf("%s: the COM runtime frees an in-process server while its work runs\n", kName);
  if (!example::check(SUCCEEDED(::CoInitializeEx(nullptr, COINIT_MULTITHREADED)),
                      "CoInitializeEx(COINIT_MULTITHREADED)")) {
    return example::finish(kName);
  }
  {
    const class_registration registration(kClsidWordCounter,
                                          (example::exe_dir() / kServerName).wstring());
    if (!example::check(registration.ok(), "registered the class (InprocServer32, Both)")) {
      return example::finish(kName);
    }

    IWordCounter* counter = nullptr;
    HRESULT hr = ::CoCreateInstance(kClsidWordCounter, nullptr, CLSCTX_INPROC_SERVER,
                                    kIidWordCounter, reinterpret_cast<void**>(&counter));
    if (!example::check(SUCCEEDED(hr) && example::is_loaded(kServerName),
                        "CoCreateInstance: COM loaded word_counter_server.dll")) {
      return example::finish(kName);
    }

    // Never freed: if a check fails and main returns early, the work may still call it.
    sink& results = *new sink;
    hr = counter->CountWords(kText, &results);
    std::printf("[host] CountWords() returned 0x%08lX\n", static_cast<unsigned long>(hr));
    if (!example::check(hr == S_OK, "CountWords started a thread and a pool callback")) {
      return example::finish(kName);
    }
    if (!example::check(
            results.thread_arrived.wait(kBoundMs) && results.pool_arrived.wait(kBoundMs),
            "both pieces of work are running (inside the host's sink)")) {
      return example::finish(kName);
    }

    // Mid-flight: the client is done with its object and asks COM to free unused servers.
    counter->Release();
    counter = nullptr;
    ::CoFreeUnusedLibrariesEx(0, 0);
    ::CoFreeUnusedLibrariesEx(0, 0);
    std::printf("[host] released its only object and called CoFreeUnusedLibrariesEx(0, 0)\n");
    example::check(server_vote() == S_FALSE,
                   "the server votes S_FALSE: its running work is counted with its objects");
    example::check(example::is_loaded(kServerName),
                   "word_counter_server.dll is still loaded while its work runs");

    results.host_has_looked.set();
    std::printf("[host] let the work finish\n");
    example::check(results.all_released.wait(kBoundMs),
                   "both pieces of work released their reference to the sink");
    example::check(results.thread_words.load() == 9 && results.pool_words.load() == 9,
                   "9 words counted on the thread and 9 in the pool callback");
    example::check(com_frees_server_within(std::chrono::milliseconds(kBoundMs)),
                   "once the work has ended, CoFreeUnusedLibrariesEx(0, 0) frees the server");

    // LockServer: a client that keeps the class factory may lock the server in memory.
    IClassFactory* factory = nullptr;
    hr = ::CoGetClassObject(kClsidWordCounter, CLSCTX_INPROC_SERVER, nullptr, IID_IClassFactory,
                            reinterpret_cast<void**>(&factory));
    if (!example::check(SUCCEEDED(hr), "CoGetClassObject: COM loaded the server again")) {
      return example::finish(kName);
    }
    example::check(factory->LockServer(TRUE) == S_OK, "LockServer(TRUE)");
    ::CoFreeUnusedLibrariesEx(0, 0);
    ::CoFreeUnusedLibrariesEx(0, 0);
    example::check(example::is_loaded(kServerName) && server_vote() == S_FALSE,
                   "a locked server stays loaded through CoFreeUnusedLibrariesEx(0, 0)");
    example::check(factory->LockServer(FALSE) == S_OK, "LockServer(FALSE)");
    example::check(factory->LockServer(FALSE) == E_UNEXPECTED,
                   "an unbalanced LockServer(FALSE) is refused with E_UNEXPECTED");
    factory->Release();
    example::check(com_frees_server_within(std::chrono::milliseconds(kBoundMs)),
                   "unlocked, the server is freed by CoFreeUnusedLibrariesEx(0, 0)");
  }  // the registration is removed here
  ::CoUninitialize();
  return example::finish(kName);
}
