// pool_plugin.dll — a plugin whose background work runs on the Windows thread pool, through
// modref's pool objects (<modref/threadpool.h>).
//
// Raw pool objects have the same lifetime problems as raw threads, and one more decision that is
// easy to leave implicit: what closing an object does with callbacks that are queued or running.
// modref makes that decision part of the type, on_destroy::wait / cancel / dont_wait, and every
// pool object below says which one it uses and why:
//
//   object                     policy      why
//   heartbeat timer            cancel      a tick that has not started is worthless once the plugin
//                                          closes; a running one touches the plugin: wait for it
//   reload wait                wait        a reload that was requested should complete
//   save queue (work)          wait        a queued save is the user's data: never drop it
//   preview queue (work)       cancel      a queued preview is worthless once nobody looks
//   thumbnails (callback_group) cancel     one callback per job, each its own closure; the group
//                                          drops the jobs that have not started and waits for
//                                          the running one (<modref/callback_group.h>)
//   upload (work)              dont_wait   a slow network must not block close(); the upload
//                                          touches nothing of the plugin, and keeps the DLL loaded
//                                          until it completes
//   send_report_async          (submit)    fire and forget: the host may unload the DLL at once
//
// What modref does for all of them: each object pins this DLL while it exists and names it as
// the callback library, so the pool never runs a callback in an unloaded DLL; submit() pins
// before it returns and releases with FreeLibraryWhenCallbackReturns; and during process exit none
// of them touches the pool (see examples/process_exit).
#include <windows.h>

#include <chrono>
#include <memory>
#include <new>

#include <modref/callback_group.h>
#include <modref/dll_main.h>
#include <modref/threadpool.h>

#include "pool_plugin.h"

namespace {

// Callbacks that wait for the host's go-ahead wait at most this long: far beyond what the host
// needs, so that only a broken build reaches it (and then fails instead of hanging).
constexpr DWORD kHostBoundMs = 30'000;

// The host's "unloaded" event, set from DllMain. A plain handle: nothing to destroy at unload.
HANDLE g_unloaded_event = nullptr;

HRESULT hresult_of(const absl::Status& status) {
  if (status.ok()) return S_OK;
  return HRESULT_FROM_WIN32(modref::win32_error_code(status).value_or(ERROR_GEN_FAILURE));
}

// Owns a private thread pool (CreateThreadpool / CloseThreadpool).
struct pool_closer {
  void operator()(PTP_POOL pool) const noexcept { ::CloseThreadpool(pool); }
};
using unique_pool = std::unique_ptr<TP_POOL, pool_closer>;

class plugin final : public plugin_interface {
 public:
  plugin(const plugin_events& events, plugin_counts& counts) : events_(events), counts_(counts) {}

  // plugin::start()
  // Creates the plugin's pool and pool objects. Separate from the constructor because the
  // callbacks capture `this`: the plugin must exist before they do.
  HRESULT start() {
    // The plugin's own pool, with a single thread: its callbacks run one after another, never
    // at the same time, so the plugin's state needs no lock.
    pool_.reset(::CreateThreadpool(nullptr));
    if (!pool_) return HRESULT_FROM_WIN32(::GetLastError());
    ::SetThreadpoolThreadMaximum(pool_.get(), 1);
    const modref::threadpool_options on_own_pool{.pool = pool_.get()};

    auto heartbeat = heartbeat_type::create(on_own_pool, [this] {
      if (counts_.heartbeats.fetch_add(1, std::memory_order_relaxed) + 1 == 3) {
        ::SetEvent(events_.third_heartbeat);
      }
    });
    // A wait object fires once per set(); the plugin asks for one reload in this example.
    auto reload = reload_type::create(on_own_pool, [this](TP_WAIT_RESULT result) {
      if (result != WAIT_OBJECT_0) return;
      counts_.reloads.fetch_add(1, std::memory_order_relaxed);
      ::SetEvent(events_.reloaded);
    });
    auto saves = saves_type::create(
        on_own_pool, [this] { counts_.saves.fetch_add(1, std::memory_order_relaxed); });
    auto previews = previews_type::create(
        on_own_pool, [this] { counts_.previews.fetch_add(1, std::memory_order_relaxed); });
    // Uploads outlive the plugin (dont_wait), so they must not capture `this`, and they run on the
    // process's default pool: the plugin's own pool is closed with the plugin.
    auto uploads = uploads_type::create([events = events_] {
      ::WaitForSingleObject(events.network, kHostBoundMs);
      ::SetEvent(events.uploaded);
    });
    auto thumbnails = modref::callback_group::create(on_own_pool);
    for (const absl::Status& status : {heartbeat.status(), reload.status(), saves.status(),
                                       previews.status(), uploads.status(), thumbnails.status()}) {
      if (!status.ok()) return hresult_of(status);
    }
    thumbnails_ = *std::move(thumbnails);
    heartbeat_ = *std::move(heartbeat);
    reload_ = *std::move(reload);
    saves_ = *std::move(saves);
    previews_ = *std::move(previews);
    uploads_ = *std::move(uploads);

    // Arm the timer (first tick now, then every 10 ms) and the wait.
    if (const HRESULT hr =
            hresult_of(heartbeat_.set(std::chrono::milliseconds(0), std::chrono::milliseconds(10)));
        FAILED(hr)) {
      return hr;
    }
    return hresult_of(reload_.set(events_.reload_request));
  }

  HRESULT hold_pool() override {
    // modref::submit on the plugin's own pool: a one-shot callback that occupies the pool's only
    // thread until the host lets go. It copies the events it needs; it never touches the plugin.
    const modref::threadpool_options on_own_pool{.pool = pool_.get()};
    return hresult_of(modref::submit(on_own_pool, [events = events_] {
      ::SetEvent(events.pool_busy);
      ::WaitForSingleObject(events.pool_release, kHostBoundMs);
    }));
  }

  HRESULT queue_saves(int n) override {
    for (int i = 0; i < n; ++i) {
      if (const HRESULT hr = hresult_of(saves_.submit()); FAILED(hr)) return hr;
    }
    return S_OK;
  }

  HRESULT queue_previews(int n) override {
    for (int i = 0; i < n; ++i) {
      if (const HRESULT hr = hresult_of(previews_.submit()); FAILED(hr)) return hr;
    }
    return S_OK;
  }

  // reset() ends the object exactly as its destructor would: on_destroy::cancel drops the queued
  // previews and waits only for a running one (there is none: the pool's thread is elsewhere).
  void discard_previews() override { previews_.reset(); }

  HRESULT queue_thumbnails(int n) override {
    for (int i = 0; i < n; ++i) {
      // Each job is its own closure (here: its index); the group counts it until it is destroyed.
      const absl::Status queued = thumbnails_.submit([this, index = i] {
        (void)index;  // a real plugin would render thumbnail `index`
        counts_.thumbnails.fetch_add(1, std::memory_order_relaxed);
      });
      if (const HRESULT hr = hresult_of(queued); FAILED(hr)) return hr;
    }
    return S_OK;
  }

  void cancel_thumbnails() override { thumbnails_.cancel(); }

  HRESULT upload() override { return hresult_of(uploads_.submit()); }

  void close() override { delete this; }

  // The members are destroyed in reverse order of declaration, each pool object by its policy:
  //   uploads_    dont_wait: returns at once; an upload in flight finishes on its own, and its
  //               state (with this DLL's pin) is freed by a closing callback after it returns;
  //   thumbnails_ cancel and wait: jobs that have not started skip their work; the destructor
  //               returns once no job's closure is alive;
  //   previews_   cancel:    queued previews are dropped;
  //   saves_      wait:      queued saves run, and the destructor waits for them;
  //   reload_     wait:      stops waiting; a reload that started is waited for;
  //   heartbeat_  cancel:    the timer is stopped, a queued tick dropped, a running one waited for;
  //   pool_       closed last: a pool must outlive the objects created in it.
  // Only then are events_ and counts_ (which the callbacks use) gone.
  ~plugin() = default;

 private:
  using heartbeat_type = modref::threadpool_timer<modref::on_destroy::cancel>;
  using reload_type = modref::threadpool_wait<modref::on_destroy::wait>;
  using saves_type = modref::threadpool_work<modref::on_destroy::wait>;
  using previews_type = modref::threadpool_work<modref::on_destroy::cancel>;
  using uploads_type = modref::threadpool_work<modref::on_destroy::dont_wait>;

  const plugin_events events_;
  plugin_counts& counts_;
  unique_pool pool_;
  heartbeat_type heartbeat_;
  reload_type reload_;
  saves_type saves_;
  previews_type previews_;
  uploads_type uploads_;
  modref::callback_group thumbnails_;
};

}  // namespace

extern "C" {

__declspec(dllexport) plugin_interface* plugin_open(const plugin_events* events,
                                                    plugin_counts* counts) {
  if (events == nullptr || counts == nullptr) return nullptr;
  g_unloaded_event = events->unloaded;
  auto opened = std::unique_ptr<plugin>(new (std::nothrow) plugin(*events, *counts));
  if (opened == nullptr || FAILED(opened->start())) return nullptr;  // unique_ptr cleans up
  return opened.release();
}

// A fire-and-forget export: the classic shape that crashes when the host unloads the DLL before
// the callback has run. modref::submit pins the DLL before it returns; the callback owns the
// captured copy of the events; the pin is released by FreeLibraryWhenCallbackReturns, after the
// callback (and the copy's destructor) has returned.
__declspec(dllexport) HRESULT send_report_async(const plugin_events* events) {
  if (events == nullptr) return E_INVALIDARG;
  return hresult_of(modref::submit([events = *events] {
    ::WaitForSingleObject(events.network, kHostBoundMs);
    ::SetEvent(events.report_sent);
  }));
}

// Forwards to modref::dll_main first (it records the unload, after which this DLL refuses to pin
// itself again), then tells the host when an orderly unload (FreeLibrary, `reserved` == NULL)
// happens. SetEvent is safe under the loader lock.
BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void* reserved) {
  if (!modref::dll_main(instance, reason, reserved)) return FALSE;
  if (reason == DLL_PROCESS_DETACH && reserved == nullptr && g_unloaded_event != nullptr) {
    ::SetEvent(g_unloaded_event);
  }
  return TRUE;
}

}  // extern "C"
