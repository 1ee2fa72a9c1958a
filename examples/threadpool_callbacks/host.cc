// threadpool_callbacks.exe — drives pool_plugin.dll through each of its pool objects, watches
// what each destruction policy does, then unloads the DLL while two callbacks are still in flight.
//
// The host paces the plugin with events, so every step below is deterministic:
//   1. timer (cancel):   wait for three heartbeats;
//   2. wait (wait):      signal a reload request, wait for the reload;
//   3. work, cancel vs wait: hold the plugin's only pool thread, queue 5 saves, 5 previews and 5
//      thumbnail jobs (callback_group) behind it, discard the previews (cancel: dropped, and the
//      call returns without waiting for the busy pool), cancel the thumbnail jobs, let the thread
//      go;
//   4. close the plugin with an upload (dont_wait) and a report (modref::submit) still waiting
//      for the "network": close() returns without them, the queued saves have all run (wait),
//      and the heartbeat has stopped (cancel);
//   5. FreeLibrary: the DLL stays loaded while the upload and the report are in flight, and
//      unloads once they complete.
#include <windows.h>

#include <cstdio>
#include <string>

#include "example_support.h"
#include "pool_plugin.h"

namespace {

constexpr const wchar_t* kPluginName = L"pool_plugin.dll";
constexpr const char* kName = "threadpool_callbacks";

// Bound for each rendezvous with a callback. Each takes milliseconds (the heartbeat period is
// 10 ms); the bound only turns a broken build into a failure instead of a hang.
constexpr DWORD kBoundMs = 30'000;

template <class Fn>
Fn get_export(HMODULE dll, const char* name) {
  return reinterpret_cast<Fn>(reinterpret_cast<void*>(::GetProcAddress(dll, name)));
}

}  // namespace

int wmain() {
  example::unbuffered_output();
  std::printf("%s: pool objects in a plugin DLL, each destroyed by the policy it needs\n", kName);

  // The host owns every event; they outlive the plugin, its callbacks and the DLL.
  example::event third_heartbeat, reloaded, pool_busy, pool_release, network, uploaded, report_sent,
      unloaded;
  example::event reload_request(example::event::reset::automatic);
  const plugin_events events{third_heartbeat.get(), reload_request.get(), reloaded.get(),
                             pool_busy.get(),       pool_release.get(),   network.get(),
                             uploaded.get(),        report_sent.get(),    unloaded.get()};
  plugin_counts counts;

  const std::wstring path = (example::exe_dir() / kPluginName).wstring();
  HMODULE dll = ::LoadLibraryExW(
      path.c_str(), nullptr, LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
  if (!example::check(dll != nullptr, "LoadLibraryExW(pool_plugin.dll)")) {
    return example::finish(kName);
  }
  const auto plugin_open = get_export<plugin_open_fn>(dll, "plugin_open");
  const auto send_report_async = get_export<send_report_async_fn>(dll, "send_report_async");
  if (!example::check(plugin_open != nullptr && send_report_async != nullptr,
                      "found the exports")) {
    return example::finish(kName);
  }
  plugin_interface* plugin = plugin_open(&events, &counts);
  if (!example::check(plugin != nullptr, "plugin_open")) return example::finish(kName);
  std::printf("[host] opened the plugin; its callbacks run one at a time on its own pool\n");

  // 1. threadpool_timer<cancel>
  std::printf("-- 1. heartbeat: threadpool_timer<on_destroy::cancel>, every 10 ms\n");
  example::check(third_heartbeat.wait(kBoundMs), "the timer fired three times");

  // 2. threadpool_wait<wait>
  std::printf("-- 2. reload: threadpool_wait<on_destroy::wait> on the host's reload_request\n");
  reload_request.set();
  example::check(reloaded.wait(kBoundMs) && counts.reloads.load() == 1,
                 "the wait callback ran once the host signalled reload_request");

  // 3. threadpool_work<wait> and threadpool_work<cancel>, with work queued behind a busy thread
  std::printf(
      "-- 3. saves: threadpool_work<on_destroy::wait>; previews: "
      "threadpool_work<on_destroy::cancel>\n");
  if (!example::check(SUCCEEDED(plugin->hold_pool()) && pool_busy.wait(kBoundMs),
                      "hold_pool (modref::submit on the plugin's pool) holds its only thread")) {
    return example::finish(kName);
  }
  example::check(SUCCEEDED(plugin->queue_saves(5)) && SUCCEEDED(plugin->queue_previews(5)) &&
                     SUCCEEDED(plugin->queue_thumbnails(5)),
                 "queued 5 saves, 5 previews and 5 thumbnail jobs behind the busy thread");
  plugin->discard_previews();
  std::printf("[host] discard_previews() returned, while the pool's only thread is still busy\n");
  example::check(
      counts.previews.load() == 0,
      "cancel: the 5 queued previews were dropped, none ran, and nothing waited for them");
  example::check(counts.saves.load() == 0, "the 5 saves are still queued");
  plugin->cancel_thumbnails();
  std::printf("[host] cancel_thumbnails() returned (callback_group::cancel does not wait)\n");
  pool_release.set();
  std::printf("[host] let the pool's thread go\n");

  // 4. threadpool_work<dont_wait> and modref::submit, then close()
  std::printf(
      "-- 4. upload: threadpool_work<on_destroy::dont_wait>; report: modref::submit; "
      "both wait for the network\n");
  example::check(SUCCEEDED(plugin->upload()), "upload started");
  example::check(SUCCEEDED(send_report_async(&events)), "send_report_async returned at once");
  plugin->close();
  plugin = nullptr;
  std::printf("[host] plugin closed\n");
  example::check(counts.saves.load() == 5, "wait: all 5 queued saves ran before close() returned");
  example::check(counts.thumbnails.load() == 0,
                 "callback_group: the 5 cancelled thumbnail jobs were skipped, and close() "
                 "returned only after their closures were destroyed");
  const long heartbeats_at_close = counts.heartbeats.load();
  example::check(!uploaded.is_set(),
                 "dont_wait: close() returned while the upload still waits for the network");

  // 5. Unload under the callbacks in flight.
  std::printf("-- 5. unload with the upload and the report still in flight\n");
  ::FreeLibrary(dll);
  dll = nullptr;
  std::printf("[host] FreeLibrary(pool_plugin.dll) returned; the host holds no reference\n");
  example::check(example::is_loaded(kPluginName) && !unloaded.is_set(),
                 "pool_plugin.dll is still loaded: the upload and the report pin it");
  network.set();
  std::printf("[host] network available\n");
  example::check(uploaded.wait(kBoundMs), "the upload completed (after the plugin was closed)");
  example::check(report_sent.wait(kBoundMs), "the report was sent (after FreeLibrary)");
  example::check(
      unloaded.wait(kBoundMs),
      "DllMain(DLL_PROCESS_DETACH) ran: the DLL unloaded once its last callback returned");
  example::check(counts.heartbeats.load() == heartbeats_at_close,
                 "cancel: no heartbeat ran after close() (the timer was stopped and waited for)");
  return example::finish(kName);
}
