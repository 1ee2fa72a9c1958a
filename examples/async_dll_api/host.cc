// async_dll_api_host.exe — an impatient host for word_count_plugin.dll.
//
// The host does what hosts do and what a DLL author cannot forbid: it calls the asynchronous
// export, overwrites the text it passed, and FreeLibrary()s the plugin at once, without waiting for
// the result. Then it checks that
//   - the result is right, although the text was overwritten (the plugin copied it: race 2);
//   - the plugin is still loaded while its worker runs, although the host gave up its only
//     reference (the worker's pin keeps it: race 1);
//   - the plugin is unloaded once the worker has ended (the worker's FreeLibraryAndExitThread
//     released the last reference, from a thread that never returned into the DLL: race 3).
//
// To make the second check deterministic the host holds the worker inside the completion
// callback until it has looked: that callback is the host's own code, so the worker is then
// running host code with the plugin's code still below it on its stack. A real host would just
// record the result and return.
#include <windows.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "example_support.h"
#include "word_count_plugin.h"

namespace {

constexpr const char* kName = "async_dll_api";
constexpr const wchar_t* kPluginName = L"word_count_plugin.dll";

// Bound for each rendezvous with the worker. Counting nine words takes microseconds; the bound
// only turns a broken build into a failure instead of a hang (thread start-up under Wine goes
// through wineserver and can take a while on a busy CI machine).
constexpr DWORD kBoundMs = 30'000;

// What the completion callback hands back to the host. The host owns it; the plugin only carries
// the pointer to it, as `context`.
struct completion {
  example::event counted;          // set by the callback once the result is stored
  example::event host_has_looked;  // set by the host; the callback returns after it
  HRESULT result = E_PENDING;
  unsigned long long words = 0;
  HANDLE worker = nullptr;  // the worker thread, opened from inside the callback
};

// Runs on the plugin's worker thread.
void on_counted(HRESULT result, unsigned long long words, void* context) {
  auto* done = static_cast<completion*>(context);
  done->result = result;
  done->words = words;
  // Open a handle to the thread we are running on, so that the host can later wait for it to
  // end. (The plugin never tells us which thread it uses; we are simply on it right now.)
  done->worker = ::OpenThread(SYNCHRONIZE, FALSE, ::GetCurrentThreadId());
  std::printf("[worker] on_counted: %llu words; holding the worker until the host has looked\n",
              words);
  done->counted.set();  // SetEvent orders the writes above before the host's wait returns
  done->host_has_looked.wait(kBoundMs);
}

}  // namespace

int wmain() {
  example::unbuffered_output();
  std::printf("%s: a host calls an asynchronous DLL export and unloads the DLL at once\n", kName);

  // Load by full path: the plugin sits next to this executable.
  const std::wstring path = (example::exe_dir() / kPluginName).wstring();
  HMODULE plugin = ::LoadLibraryExW(
      path.c_str(), nullptr, LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
  if (!example::check(plugin != nullptr, "LoadLibraryExW(word_count_plugin.dll)")) {
    return example::finish(kName);
  }
  const auto start = reinterpret_cast<start_word_count_fn>(
      reinterpret_cast<void*>(::GetProcAddress(plugin, "StartWordCount")));
  if (!example::check(start != nullptr, "GetProcAddress(StartWordCount)")) {
    return example::finish(kName);
  }

  // Never freed: if a check below fails and main returns early, the worker may still call back
  // into it, so it lives until the process ends.
  completion& done = *new completion;
  std::wstring text = L"the quick brown fox jumps over the lazy dog";
  const HRESULT hr = start(text.c_str(), &on_counted, &done);
  std::printf("[host] StartWordCount(text, on_counted, &done) returned 0x%08lX\n",
              static_cast<unsigned long>(hr));
  if (!example::check(hr == S_OK, "StartWordCount succeeded")) {
    return example::finish(kName);
  }

  // Race 2: the text is ours again; scribble over it and free it at once.
  std::fill(text.begin(), text.end(), L'#');
  text.clear();
  text.shrink_to_fit();
  std::printf("[host] overwrote and freed the text buffer\n");

  // Race 1: give up our only reference immediately. Without a pin taken inside StartWordCount,
  // this would unmap the plugin under its worker.
  ::FreeLibrary(plugin);
  plugin = nullptr;
  std::printf("[host] FreeLibrary(plugin) returned; the host holds no reference any more\n");

  if (!example::check(done.counted.wait(kBoundMs), "the completion callback ran")) {
    return example::finish(kName);
  }
  example::check(done.result == S_OK && done.words == 9,
                 "9 words counted, although the host overwrote the text right after the call");
  example::check(example::is_loaded(kPluginName),
                 "word_count_plugin.dll is still loaded while its worker runs (the worker's pin)");
  example::check(done.worker != nullptr, "the host has a handle to the worker thread");

  // Let the worker return from our callback. It then returns into the plugin, destroys its copy
  // of the text, and calls FreeLibraryAndExitThread: the plugin is unmapped and the thread ends
  // without running another instruction of it.
  done.host_has_looked.set();
  std::printf("[host] released the worker; waiting for its thread to end\n");
  if (done.worker != nullptr) {
    example::check(example::signalled(done.worker, kBoundMs), "the worker thread ended");
    ::CloseHandle(done.worker);
    // A thread's handle is signalled only after the thread is gone, and FreeLibraryAndExitThread
    // finished the FreeLibrary before it ended the thread: the unload is complete by now.
    example::check(!example::is_loaded(kPluginName),
                   "word_count_plugin.dll was unloaded by the worker's FreeLibraryAndExitThread");
  }
  return example::finish(kName);
}
