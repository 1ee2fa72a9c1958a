// init_order_dll.h — what init_order_dll.dll reports to tests/threads/init_order_test.cc.
//
// The DLL has two translation units. init_order_starter.cc includes no modref header; its global
// constructor starts pool work through init_order_pool.cc, which does include
// <modref/threadpool.h>. The starter is listed last on the link line, and MinGW runs constructors
// in reverse link order, so it runs first: modref's globals in the pool TU are used before that
// TU's own dynamic initialisation has run. Every modref global must therefore be
// constant-initialised.
#ifndef MODREF_TESTS_THREADS_DLLS_INIT_ORDER_DLL_H_
#define MODREF_TESTS_THREADS_DLLS_INIT_ORDER_DLL_H_

#include <windows.h>

struct init_order_results {
  // The starter's constructor ran before the pool TU's dynamic initialisation (the order under
  // test).
  BOOL starter_ran_before_pool_tu = FALSE;
  // threadpool_work::create() and submit() succeeded from the starter's constructor.
  BOOL work_submitted = FALSE;
  // The callable ran (on an idle pool thread) before the starter's constructor stopped waiting.
  BOOL callback_ran_during_load = FALSE;
  // TLS slot 0 and the starter TU's own slot, read by the callable on its pool thread. Neither is
  // modref's: both must hold what that thread had there before (null on a pool thread that never
  // set them).
  void* slot0_in_callback = nullptr;
  DWORD starter_slot = TLS_OUT_OF_INDEXES;
  void* starter_slot_in_callback = nullptr;
  // The TLS index modref allocated for its running-callback marker (read after the callback).
  DWORD modref_slot = TLS_OUT_OF_INDEXES;
};

extern "C" {
// Filled in while the DLL loads; read by the host after LoadLibrary returns.
__declspec(dllexport) void init_order_get_results(init_order_results* out);
}

// Between the two translation units (not exported).
void init_order_start_pool_work(init_order_results& results, HANDLE callback_done);
bool init_order_pool_tu_initialised();

#endif  // MODREF_TESTS_THREADS_DLLS_INIT_ORDER_DLL_H_
