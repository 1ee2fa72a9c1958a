// Tests for <modref/mutex.h>: modref::mutex, mutex_lock and condition_variable. Portable: run on
// Windows (SRWLOCK + CONDITION_VARIABLE, under Wine) and on Linux (std::mutex, also under ASan and
// TSan). Rendezvous through the mutex itself and atomics; timeouts only bound broken runs.
#include "modref/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

// Long enough never to expire in a correct run on a loaded 2-core machine under Wine.
constexpr absl::Duration kBound = absl::Seconds(30);

struct counter {
  modref::mutex mu;
  int value ABSL_GUARDED_BY(mu) = 0;
  bool reached(int n) const ABSL_NO_THREAD_SAFETY_ANALYSIS { return value >= n; }
  bool positive() const ABSL_NO_THREAD_SAFETY_ANALYSIS { return value > 0; }
};

TEST(Mutex, ExcludesAndPublishesWrites) {
  counter c;
  constexpr int kThreads = 4;
  constexpr int kIncrements = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < kIncrements; ++i) {
        modref::mutex_lock lock(c.mu);
        ++c.value;
      }
    });
  }
  for (auto& t : threads) t.join();
  modref::mutex_lock lock(c.mu);
  EXPECT_EQ(c.value, kThreads * kIncrements);
}

TEST(Mutex, TryLockFailsWhileHeldAndSucceedsWhenFree) {
  modref::mutex mu;
  mu.lock();
  std::atomic<int> other{-1};
  std::thread([&] {
    const bool got = mu.try_lock();
    if (got) mu.unlock();
    other = got ? 1 : 0;
  }).join();
  EXPECT_EQ(other.load(), 0);
  mu.unlock();
  ASSERT_TRUE(mu.try_lock());
  mu.unlock();
}

TEST(Mutex, AwaitIsWokenByAnotherThreadsUnlock) {
  counter c;
  std::thread waiter([&c] {
    modref::mutex_lock lock(c.mu);
    c.mu.await(&c, &counter::positive);  // no notify anywhere: the unlock re-evaluates it
    c.value = 100;
  });
  {
    modref::mutex_lock lock(c.mu);
    c.value = 1;
  }
  waiter.join();
  modref::mutex_lock lock(c.mu);
  EXPECT_EQ(c.value, 100);
}

TEST(Mutex, AwaitForTimesOutWithTheMutexHeld) {
  counter c;
  modref::mutex_lock lock(c.mu);
  EXPECT_FALSE(c.mu.await_for(&c, &counter::positive, absl::Milliseconds(20)));
  EXPECT_FALSE(c.mu.await_for(&c, &counter::positive, absl::ZeroDuration()));
  c.value = 1;  // still held: writing is allowed
  EXPECT_TRUE(c.mu.await_for(&c, &counter::positive, absl::ZeroDuration()));
}

TEST(Mutex, AwaitForReturnsTrueOnceTheConditionHolds) {
  counter c;
  std::thread setter([&c] {
    for (int i = 0; i < 5; ++i) {
      modref::mutex_lock lock(c.mu);
      ++c.value;
    }
  });
  {
    modref::mutex_lock lock(c.mu);
    EXPECT_TRUE(
        c.mu.await_for([&c]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return c.reached(5); }, kBound));
  }
  setter.join();
}

// A waiter that times out must not take a wake-up meant for another: every awaiter re-evaluates
// its own condition at each unlock.
TEST(Mutex, ATimedOutWaiterDoesNotSwallowAnotherWaitersWakeUp) {
  counter c;
  std::atomic<bool> impatient_done{false};
  std::thread impatient([&] {
    modref::mutex_lock lock(c.mu);
    EXPECT_FALSE(c.mu.await_for([&c]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return c.reached(1000); },
                                absl::Milliseconds(10)));
    impatient_done = true;
  });
  std::thread patient([&] {
    modref::mutex_lock lock(c.mu);
    EXPECT_TRUE(c.mu.await_for(&c, &counter::positive, kBound));
  });
  impatient.join();
  ASSERT_TRUE(impatient_done.load());
  {
    modref::mutex_lock lock(c.mu);
    c.value = 1;
  }
  patient.join();
}

TEST(ConditionVariable, NotifyWakesAPredicateWait) {
  modref::mutex mu;
  modref::condition_variable cv;
  bool ready = false;  // guarded by mu
  std::thread waiter([&] {
    modref::mutex_lock lock(mu);
    cv.wait(mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return ready; });
  });
  {
    modref::mutex_lock lock(mu);
    ready = true;
  }
  cv.notify_all();
  waiter.join();
}

TEST(ConditionVariable, WaitForTimesOut) {
  modref::mutex mu;
  modref::condition_variable cv;
  modref::mutex_lock lock(mu);
  EXPECT_FALSE(cv.wait_for(mu, absl::Milliseconds(10), [] { return false; }));
  EXPECT_TRUE(cv.wait_for(mu, absl::Milliseconds(10), [] { return true; }));
}

}  // namespace
