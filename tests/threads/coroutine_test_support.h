// Helpers shared by the coroutine tests (coroutine_task_test.cc, coroutine_awaitables_test.cc,
// coroutine_test.cc): the coroutine layer's test seams and two small coroutines.
#ifndef MODREF_TESTS_THREADS_COROUTINE_TEST_SUPPORT_H_
#define MODREF_TESTS_THREADS_COROUTINE_TEST_SUPPORT_H_

#include <modref/coroutine.h>

#include <windows.h>

#include <atomic>

#include "pool_test_support.h"

namespace modref_coro_test {

inline auto& coro_seams() { return modref::detail::g_coro_test_seams; }

// Hops to the pool (or `options.pool`), records the thread it ran on, then sets `done`.
inline modref::fire_and_forget hop_and_signal(const modref_pool_test::event& done,
                                              std::atomic<DWORD>* ran_on,
                                              modref::threadpool_options options = {}) {
  co_await modref::resume_background(options);
  *ran_on = ::GetCurrentThreadId();
  done.set();
}

// Adds on a pool thread.
inline modref::task<int> add_on_pool(int a, int b) {
  co_await modref::resume_background();
  co_return a + b;
}

}  // namespace modref_coro_test

#endif  // MODREF_TESTS_THREADS_COROUTINE_TEST_SUPPORT_H_
