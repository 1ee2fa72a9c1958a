// init_order_pool.cc — the translation unit of init_order_dll.dll that uses <modref/threadpool.h>.
// See init_order_dll.h.
#include <windows.h>

#include <modref/threadpool.h>

#include "init_order_dll.h"

namespace {
// Dynamically initialised on purpose (GetCurrentProcessId() cannot be folded into a constant):
// false until this TU's dynamic initialisation has run.
bool g_pool_tu_initialised = ::GetCurrentProcessId() != 0;
}  // namespace

bool init_order_pool_tu_initialised() { return g_pool_tu_initialised; }

void init_order_start_pool_work(init_order_results& results, HANDLE callback_done) {
  init_order_results* out = &results;
  auto work = modref::threadpool_work<modref::on_destroy::wait>::create([out, callback_done] {
    out->slot0_in_callback = ::TlsGetValue(0);
    if (out->starter_slot != TLS_OUT_OF_INDEXES) {
      out->starter_slot_in_callback = ::TlsGetValue(out->starter_slot);
    }
    ::SetEvent(callback_done);
  });
  if (!work.ok() || !work->submit().ok()) return;
  results.work_submitted = TRUE;
  // We hold the loader lock (a global constructor): an idle pool thread runs the callback without
  // it, a new pool thread could not start until the load is over. The host warms the pool first;
  // 10 s only bounds the wait if it did not, so that the test fails instead of hanging.
  results.callback_ran_during_load = ::WaitForSingleObject(callback_done, 10'000) == WAIT_OBJECT_0;
  results.modref_slot = modref::detail::g_running_callback_slot.index_for_diagnostics();
  // `work` is destroyed here, under the loader lock: it closes as on_destroy::dont_wait does.
}
