// The host side of the race lab's COM rows, linked into racelab_host.exe:
//   racelab_host com_server_unloaded_by_com raw|modref
//   racelab_host com_object_from_worker raw|modref
//   racelab_host com_stress raw|modref [cycles]       (run_com_stress, at the end of this file)
//
// The real COM runtime (Wine's combase under Wine, combase.dll on Windows) is the host that
// unloads the server:
//   1. the class is registered (HKLM, by this process: a fresh prefix works) and created in the
//      MTA with CoCreateInstance; COM loads the DLL;
//   2. ILabJob::Start() starts a worker, which waits for `go` (created before the call);
//   3. the client Releases its only object and calls CoFreeUnusedLibrariesEx(0, 0); COM asks
//      DllCanUnloadNow and calls FreeLibrary on S_OK;
//   4. only then does the host set `go`.
// com_server_unloaded_by_com (both servers vote with their object count, S_OK): raw, the worker
// returns into unmapped code and the process dies with 0xC0000005; modref, the worker's pin kept
// the DLL mapped, and its FreeLibraryAndExitThread unloads the DLL with no further COM call.
// com_object_from_worker (both workers pinned; the worker creates an object for the client, the
// host waits for the worker thread to end and then calls the object): raw, the objects-only vote
// said S_OK, COM let the DLL go, and the worker's exit dropped the last reference under the
// object: 0xC0000005 on the call; modref, dll_can_unload_now() counted the worker and then the
// object, COM kept the DLL, and it is freed only after the client released the object.
#include <windows.h>
#include <objbase.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

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

unsigned long run_com_scenario(const wchar_t* scenario, const wchar_t* variant) {
  const bool raw = std::wstring(variant) == L"raw";
  const bool produce = std::wstring(scenario) == L"com_object_from_worker";
  const wchar_t* dll_name = raw ? L"racelab_com_raw.dll" : L"racelab_com_modref.dll";
  const CLSID& clsid = raw ? kClsidLabRaw : kClsidLabModref;

  if (FAILED(::CoInitializeEx(nullptr, COINIT_MULTITHREADED))) return lab_setup_error;
  // Every event exists before the call that uses it: the worker cannot run ahead of the host.
  g_com_io.go = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  g_com_io.done = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (g_com_io.go == nullptr || g_com_io.done == nullptr) return lab_setup_error;
  g_com_io.produce = produce;
  g_com_io.modref_vote = produce;  // the modref server votes with dll_can_unload_now() there

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
  // COM asks DllCanUnloadNow and, on S_OK, frees the DLL. Called twice: Windows documents that an
  // S_OK makes the DLL a candidate that a later call frees once the delay has passed; Wine 8
  // frees it in the first call when the delay is 0.
  ::CoFreeUnusedLibrariesEx(0, 0);
  ::CoFreeUnusedLibrariesEx(0, 0);
  std::printf("DllCanUnloadNow: %ld x S_OK, %ld x S_FALSE; %ls is %s while its worker waits\n",
              g_com_io.votes_unload, g_com_io.votes_keep, dll_name,
              modref_test::is_loaded(dll_name) ? "mapped" : "unmapped");
  std::fflush(stdout);
  if (!produce && g_com_io.votes_unload == 0) {
    // com_server_unloaded_by_com is about COM freeing the DLL: both servers must say S_OK.
    std::fprintf(stderr, "COM never heard S_OK from DllCanUnloadNow: the row tests nothing\n");
    return lab_setup_error;
  }

  ::SetEvent(
      g_com_io.go);  // com_server_unloaded_by_com, raw: the worker returns into unmapped code
  if (::WaitForSingleObject(g_com_io.done, kWorkBoundMs) != WAIT_OBJECT_0) return lab_hang;
  if (produce) {
    // com_object_from_worker: wait until the worker thread is gone (its pin with it), then use the
    // object it handed over. Raw: COM let the DLL go at the vote and the worker's
    // FreeLibraryAndExitThread dropped the last reference, so the object's code is unmapped.
    if (g_com_io.made == nullptr || g_com_io.worker == nullptr) return lab_setup_error;
    if (::WaitForSingleObject(g_com_io.worker, kWorkBoundMs) != WAIT_OBJECT_0) return lab_hang;
    std::printf("the worker has ended; %ls is %s; calling the object it created\n", dll_name,
                modref_test::is_loaded(dll_name) ? "mapped" : "unmapped");
    std::fflush(stdout);
    ILabJob* made = nullptr;
    if (FAILED(g_com_io.made->QueryInterface(kIidLabJob, reinterpret_cast<void**>(&made)))) {
      return lab_corrupted;
    }
    made->Release();
    g_com_io.made->Release();  // the client is done with it too
    g_com_io.made = nullptr;
    ::CoFreeUnusedLibrariesEx(0, 0);  // nothing is alive any more: now COM may free the server
    ::CoFreeUnusedLibrariesEx(0, 0);
  }
  // com_server_unloaded_by_com: no further COM call; COM has given its reference back, and the
  // worker's FreeLibraryAndExitThread drops the last one.
  if (!modref_test::wait_until_unloaded(dll_name)) return lab_leak;
  ::CoUninitialize();
  return lab_passed;
}

// com_stress: the COM cycle, many times in one process, with a CPU-load thread per core.
// Each cycle: CoCreateInstance (COM loads the DLL), Start(), Release(), CoFreeUnusedLibrariesEx,
// then the DLL must be unloaded within a bound. Even cycles force the interleaving of
// com_server_unloaded_by_com (objects-only vote, `go` set after COM's FreeLibrary); odd cycles let
// the worker run at once and the modref server vote with dll_can_unload_now(), so that COM's
// unload races the worker's end on its own. The raw server crashes in the first forced cycle.
// What this loop checks is that no cycle crashes and every cycle unloads; handle and thread
// growth is the main stress loop's job (these DLLs link the C++ runtime statically, whose
// <iostream> costs handles per load under Wine; see docs/testing.md).
unsigned long run_com_stress(const wchar_t* variant, int cycles) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);  // every line reaches the lab's log, even on a crash
  const bool raw = std::wstring(variant) == L"raw";
  const wchar_t* dll_name = raw ? L"racelab_com_raw.dll" : L"racelab_com_modref.dll";
  const CLSID& clsid = raw ? kClsidLabRaw : kClsidLabModref;
  if (cycles <= 0) return lab_setup_error;
  if (FAILED(::CoInitializeEx(nullptr, COINIT_MULTITHREADED))) return lab_setup_error;
  g_com_io.go = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  g_com_io.done = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (g_com_io.go == nullptr || g_com_io.done == nullptr) return lab_setup_error;
  class_registration registration;  // for the whole loop; removed when it ends
  if (!registration.add(clsid, modref_test::sibling(dll_name).wstring())) return lab_setup_error;

  std::atomic<bool> stop_load{false};
  std::vector<std::thread> load;
  for (unsigned i = 0; i < std::max(1u, std::thread::hardware_concurrency()); ++i) {
    // Busy for about a millisecond, then yield, as the main stress loop does.
    load.emplace_back([&] {
      while (!stop_load.load(std::memory_order_relaxed)) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
        while (std::chrono::steady_clock::now() < until) {
        }
        ::Sleep(0);
      }
    });
  }
  auto finish = [&](unsigned long code) {
    stop_load = true;
    for (auto& t : load) t.join();
    return code;
  };

  const auto start = std::chrono::steady_clock::now();
  double slowest = 0;
  for (int cycle = 1; cycle <= cycles; ++cycle) {
    const bool forced = cycle % 2 == 1;
    ::ResetEvent(g_com_io.go);
    ::ResetEvent(g_com_io.done);
    g_com_io.modref_vote = !forced;
    const auto began = std::chrono::steady_clock::now();
    ILabJob* job = nullptr;
    if (FAILED(::CoCreateInstance(clsid, nullptr, CLSCTX_INPROC_SERVER, kIidLabJob,
                                  reinterpret_cast<void**>(&job)))) {
      std::printf("cycle %d: CoCreateInstance failed\n", cycle);
      return finish(lab_setup_error);
    }
    if (!forced) ::SetEvent(g_com_io.go);  // the worker runs at once, racing what follows
    if (FAILED(job->Start(&g_com_io))) return finish(lab_setup_error);
    job->Release();
    ::CoFreeUnusedLibrariesEx(0, 0);
    ::CoFreeUnusedLibrariesEx(0, 0);
    if (forced) ::SetEvent(g_com_io.go);  // after COM's FreeLibrary (raw: into unmapped code)
    if (::WaitForSingleObject(g_com_io.done, kWorkBoundMs) != WAIT_OBJECT_0) {
      std::printf("cycle %d: the worker never finished\n", cycle);
      return finish(lab_hang);
    }
    // Bounded: the worker's last steps and COM's next look come after `done`.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (modref_test::is_loaded(dll_name)) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::printf("cycle %d: %ls still loaded 20 s after the work ended\n", cycle, dll_name);
        return finish(lab_leak);
      }
      ::CoFreeUnusedLibrariesEx(0, 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    slowest = std::max(
        slowest, std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%d COM cycles (half forced, half free-running): every cycle unloaded; %.1f ms per "
      "cycle, slowest %.0f ms\n",
      cycles, 1000 * seconds / cycles, 1000 * slowest);
  ::CoUninitialize();
  return finish(lab_passed);
}
