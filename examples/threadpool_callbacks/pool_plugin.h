// pool_plugin.h — the interface of pool_plugin.dll, shared by the DLL and its host.
//
// The plugin does its background work on the Windows thread pool: a heartbeat timer, a wait for
// "reload" requests, queues of saves and previews, a group of thumbnail jobs, uploads, and a
// fire-and-forget report. Each of
// its pool objects is destroyed with the policy that suits what it does (see pool_plugin.cc).
//
// The interface is C++ (a class with virtual functions, as COM interfaces are): the DLL and its
// host are built by the same compiler here. The host gets the plugin from plugin_open() and ends it
// with close(). The events belong to the host and must outlive the plugin, its callbacks and the
// DLL.
#ifndef MODREF_EXAMPLES_THREADPOOL_CALLBACKS_POOL_PLUGIN_H_
#define MODREF_EXAMPLES_THREADPOOL_CALLBACKS_POOL_PLUGIN_H_

#include <windows.h>

#include <atomic>

// Events through which the host watches (and, for the demonstration, paces) the plugin.
struct plugin_events {
  HANDLE third_heartbeat;  // set by the plugin when its heartbeat timer has fired three times
  HANDLE reload_request;   // set by the host: the plugin's wait object reacts with a reload
  HANDLE reloaded;         // set by the plugin when the reload has run
  HANDLE pool_busy;        // set by the plugin: hold_pool() occupies its pool's only thread
  HANDLE pool_release;     // set by the host: the held thread is let go
  HANDLE network;          // set by the host: uploads and reports may complete
  HANDLE uploaded;         // set by the plugin when an upload has completed
  HANDLE report_sent;      // set by the plugin when send_report_async()'s report has been sent
  HANDLE unloaded;         // set by the plugin's DllMain(DLL_PROCESS_DETACH) on FreeLibrary
};

// What the plugin's callbacks did. Owned by the host, so that it can be read after close().
struct plugin_counts {
  std::atomic<long> heartbeats{0};
  std::atomic<long> reloads{0};
  std::atomic<long> saves{0};
  std::atomic<long> previews{0};
  std::atomic<long> thumbnails{0};
};

// One plugin instance. Every member returns at once (none waits for a callback) except close().
class plugin_interface {
 public:
  // Occupies the only thread of the plugin's pool until `pool_release` is set (demonstration aid:
  // whatever is queued meanwhile stays queued).
  virtual HRESULT hold_pool() = 0;
  // Queues `n` saves / previews on the plugin's pool.
  virtual HRESULT queue_saves(int n) = 0;
  virtual HRESULT queue_previews(int n) = 0;
  // Ends the preview queue now, as its destructor would: queued previews are dropped.
  virtual void discard_previews() = 0;
  // Queues `n` thumbnail jobs in the plugin's callback group; cancel_thumbnails() makes the ones
  // that have not started skip their work, without waiting.
  virtual HRESULT queue_thumbnails(int n) = 0;
  virtual void cancel_thumbnails() = 0;
  // Starts an upload that completes once `network` is set.
  virtual HRESULT upload() = 0;
  // Destroys the plugin. Returns when every callback that may touch the plugin has returned;
  // uploads in flight go on and keep the DLL loaded until they complete.
  virtual void close() = 0;

 protected:
  ~plugin_interface() = default;  // close() destroys the plugin; nobody deletes an interface
};

extern "C" {

// Opens a plugin. Returns nullptr on failure.
using plugin_open_fn = plugin_interface* (*)(const plugin_events* events, plugin_counts* counts);

// Sends a report in the background (modref::submit) and returns at once. The DLL may be freed as
// soon as this returns; the report still completes once `network` is set.
using send_report_async_fn = HRESULT (*)(const plugin_events* events);

}  // extern "C"

#endif  // MODREF_EXAMPLES_THREADPOOL_CALLBACKS_POOL_PLUGIN_H_
