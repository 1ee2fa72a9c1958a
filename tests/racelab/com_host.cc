// The host side of the race lab's COM row, com_server_unloaded_by_com (linked into
// racelab_host.exe: `racelab_host com_server_unloaded_by_com raw|modref`).
//
// The real COM runtime (Wine's combase under Wine, combase.dll on Windows) is the host that
// unloads the server:
//   1. the class is registered (HKLM, by this process: a fresh prefix works) and created in the
//      MTA with CoCreateInstance; COM loads the DLL;
//   2. ILabJob::Start() starts a worker, which waits for `go` (created before the call);
//   3. the client Releases its only object and calls CoFreeUnusedLibrariesEx(0, 0): the server's
//      DllCanUnloadNow counts objects, answers S_OK, and COM calls FreeLibrary;
//   4. only then does the host set `go`. Raw: the worker returns into unmapped code and the
//      process dies with 0xC0000005. modref: the worker's pin kept the DLL mapped; the worker
//      finishes, and its FreeLibraryAndExitThread unloads the DLL with no further COM call.
#include <windows.h>
#include <objbase.h>

#include <cstdio>
#include <string>

#include "../support/test_support.h"
#include "com_lab.h"
#include "lab_io.h"

namespace {

// Bound for waits that only a broken scenario would reach (Wine starts threads through
// wineserver, and CI runs the lab beside other jobs on 2 cores).
constexpr DWORD kWorkBoundMs = 15000;

// One class registration: HKLM\Software\Classes\CLSID\{clsid}\InprocServer32 = path, with
// ThreadingModel=Both, removed again by remove() or the destructor. Wine 8's combase ignored the
// same keys under HKCU; on Windows HKLM needs elevation, so without it the keys go to
// HKCU\Software\Classes, which Windows merges into HKEY_CLASSES_ROOT.
class class_registration {
 public:
  class_registration() = default;
  class_registration(const class_registration&) = delete;  // one set of keys, one owner
  class_registration& operator=(const class_registration&) = delete;
  ~class_registration() { remove(); }

  bool add(const CLSID& clsid, const std::wstring& dll_path) {
    wchar_t text[64];
    if (::StringFromGUID2(clsid, text, static_cast<int>(std::size(text))) == 0) return false;
    key_ = std::wstring(L"Software\\Classes\\CLSID\\") + text;
    for (HKEY root : {HKEY_LOCAL_MACHINE, HKEY_CURRENT_USER}) {
      HKEY server = nullptr;
      const LONG created = ::RegCreateKeyExW(root, (key_ + L"\\InprocServer32").c_str(), 0, nullptr,
                                             0, KEY_WRITE, nullptr, &server, nullptr);
      if (created == ERROR_ACCESS_DENIED) continue;  // not elevated (Windows): try HKCU
      if (created != ERROR_SUCCESS) return false;
      root_ = root;
      const std::wstring model = L"Both";
      const bool written =
          set_string(server, nullptr, dll_path) && set_string(server, L"ThreadingModel", model);
      ::RegCloseKey(server);
      return written;
    }
    return false;
  }

  void remove() {
    if (root_ == nullptr) return;
    ::RegDeleteTreeW(root_, key_.c_str());
    root_ = nullptr;
  }

 private:
  static bool set_string(HKEY key, const wchar_t* name, const std::wstring& value) {
    return ::RegSetValueExW(key, name, 0, REG_SZ, reinterpret_cast<const BYTE*>(value.c_str()),
                            static_cast<DWORD>((value.size() + 1) * sizeof(wchar_t))) ==
           ERROR_SUCCESS;
  }

  HKEY root_ = nullptr;
  std::wstring key_;
};

com_lab_io g_com_io;  // lives in the executable: valid after the server is gone

}  // namespace

unsigned long run_com_scenario(const wchar_t* variant) {
  const bool raw = std::wstring(variant) == L"raw";
  const wchar_t* dll_name = raw ? L"racelab_com_raw.dll" : L"racelab_com_modref.dll";
  const CLSID& clsid = raw ? kClsidLabRaw : kClsidLabModref;

  if (FAILED(::CoInitializeEx(nullptr, COINIT_MULTITHREADED))) return lab_setup_error;
  // Every event exists before the call that uses it: the worker cannot run ahead of the host.
  g_com_io.go = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  g_com_io.done = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (g_com_io.go == nullptr || g_com_io.done == nullptr) return lab_setup_error;

  ILabJob* job = nullptr;
  {
    class_registration registration;
    if (!registration.add(clsid, modref_test::sibling(dll_name).wstring())) {
      std::fprintf(stderr, "could not register the class (error %lu)\n", ::GetLastError());
      return lab_setup_error;
    }
    const HRESULT created = ::CoCreateInstance(clsid, nullptr, CLSCTX_INPROC_SERVER, kIidLabJob,
                                               reinterpret_cast<void**>(&job));
    if (FAILED(created)) {
      std::fprintf(stderr, "CoCreateInstance: 0x%08lX\n", static_cast<unsigned long>(created));
      return lab_setup_error;
    }
  }  // the keys are removed: COM has loaded the server, and the prefix is left as it was found
  if (!modref_test::is_loaded(dll_name)) return lab_setup_error;

  if (FAILED(job->Start(&g_com_io))) return lab_setup_error;
  job->Release();  // the client is done with its only object
  // COM asks DllCanUnloadNow (S_OK: no object left) and frees the DLL. Called twice: Windows
  // documents that an S_OK makes the DLL a candidate that a later call frees once the delay has
  // passed; Wine 8 frees it in the first call when the delay is 0.
  ::CoFreeUnusedLibrariesEx(0, 0);
  ::CoFreeUnusedLibrariesEx(0, 0);
  if (g_com_io.votes_unload == 0) {
    std::fprintf(stderr, "COM never heard S_OK from DllCanUnloadNow: the row tests nothing\n");
    return lab_setup_error;
  }
  std::printf("COM was told S_OK and freed %ls; it is %s while its worker waits\n", dll_name,
              modref_test::is_loaded(dll_name) ? "still mapped (the worker's pin)" : "unmapped");
  std::fflush(stdout);

  ::SetEvent(g_com_io.go);  // raw: the worker now returns into unmapped code
  if (::WaitForSingleObject(g_com_io.done, kWorkBoundMs) != WAIT_OBJECT_0) return lab_hang;
  // No further COM call: COM has given its reference back; the worker's FreeLibraryAndExitThread
  // drops the last one.
  if (!modref_test::wait_until_unloaded(dll_name)) return lab_leak;
  ::CoUninitialize();
  return lab_passed;
}
