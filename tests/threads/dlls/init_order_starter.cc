// init_order_starter.cc — the translation unit of init_order_dll.dll whose global constructor
// starts pool work. It includes no modref header. Listed last on the link line so that MinGW
// runs its constructor first. See init_order_dll.h.
#include <windows.h>

#include "init_order_dll.h"

namespace {

init_order_results g_results;

struct starter {
  starter() {
    g_results.starter_ran_before_pool_tu = init_order_pool_tu_initialised() ? FALSE : TRUE;
    // Another TU's TLS slot: its value on a pool thread must stay whatever that thread had.
    g_results.starter_slot = ::TlsAlloc();
    HANDLE done = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (done == nullptr) return;
    init_order_start_pool_work(g_results, done);
    ::CloseHandle(done);
  }
  ~starter() {
    if (g_results.starter_slot != TLS_OUT_OF_INDEXES) ::TlsFree(g_results.starter_slot);
  }
  starter(const starter&) = delete;  // one global
  starter& operator=(const starter&) = delete;
};
starter g_starter;

}  // namespace

extern "C" __declspec(dllexport) void init_order_get_results(init_order_results* out) {
  *out = g_results;
}
