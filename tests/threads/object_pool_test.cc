// Tests for <modref/object_pool.h>: creation and its argument checks, lazy creation and reuse,
// every lease operation, the timeout paths, factory failures (error status, nullptr, exception)
// that must not leak a slot or strand a waiter, discard, the capacity bound under contention, the
// seed scenario (a non-thread-safe hasher shared by eight threads through the pool) and the
// fail-fast checks.
//
// Rendezvous use a notification (below), never sleeps. The few waits that take a timeout say why
// they need one and why that value.
#include <modref/mutex.h>
#include <modref/object_pool.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace {

using ::testing::HasSubstr;

// A bound for waits that succeed in a correct pool and would block forever in a broken one: it
// turns a hang into a failure. Far above any real wait in these tests, even under TSan or Wine on a
// loaded 2-core machine.
// A one-shot rendezvous on modref::mutex, the lock the pool itself uses. Not absl::Notification:
// with TSan-instrumented Abseil, a thread that first creates its Abseil identity inside a
// factory call (while it holds a std::mutex) drew a data-race report inside Abseil's own waiter
// (LowLevelAlloc's mmap vs Waiter::Post), which TSan does not see ordered; modref's lock is
// std::mutex on Linux, which TSan models directly.
class notification {
 public:
  void Notify() {
    modref::mutex_lock lock(mu_);
    notified_ = true;
  }
  void WaitForNotification() {
    modref::mutex_lock lock(mu_);
    mu_.await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return notified_; });
  }
  bool WaitForNotificationWithTimeout(absl::Duration timeout) {
    modref::mutex_lock lock(mu_);
    return mu_.await_for([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return notified_; },
                         timeout);
  }

 private:
  modref::mutex mu_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

constexpr absl::Duration kNeverInPractice = absl::Seconds(60);

// Counts the widgets made and destroyed by one test.
struct counters {
  std::atomic<int> made{0};
  std::atomic<int> destroyed{0};
};

// A pooled object with an identity (serial) and some state a borrower can leave behind (value).
struct widget {
  widget(counters* c, int serial_number) : serial(serial_number), counts(c) { counts->made++; }
  ~widget() { counts->destroyed++; }
  widget(const widget&) = delete;  // identity matters in these tests
  widget& operator=(const widget&) = delete;

  int serial;
  int value = 0;
  counters* counts;
};

using widget_pool = modref::object_pool<widget>;

// Serial numbers 0, 1, 2, ... The counter is a plain captured int: the pool never calls the
// factory from two threads at once (TSan would report a race on `next` otherwise).
widget_pool::factory_type widget_factory(counters* c) {
  return [c, next = 0]() mutable { return std::make_unique<widget>(c, next++); };
}

std::unique_ptr<widget_pool> make_widget_pool(std::size_t capacity, counters* c) {
  return widget_pool::create(capacity, widget_factory(c)).value();
}

// A default-constructible type for the default factory.
struct plain {
  int number;
  std::string text;
};

template <class Pool>
concept has_default_create = requires {
  Pool::create(std::size_t{1});
};

// ---------------------------------------------------------------------------------------------
// Construction

static_assert(!std::is_copy_constructible_v<widget_pool>, "leases point into the pool");
static_assert(!std::is_move_constructible_v<widget_pool>, "leases point into the pool");
static_assert(!std::is_copy_assignable_v<widget_pool>);
static_assert(!std::is_move_assignable_v<widget_pool>);
static_assert(!has_default_create<widget_pool>, "widget has no default constructor");
static_assert(!std::is_constructible_v<widget_pool, std::size_t>);
static_assert(has_default_create<modref::object_pool<plain>>);
static_assert(!std::is_convertible_v<std::size_t, modref::object_pool<plain>>, "explicit");

TEST(ObjectPoolCreate, ReturnsAnEmptyPool) {
  counters c;
  absl::StatusOr<std::unique_ptr<widget_pool>> pool = widget_pool::create(3, widget_factory(&c));
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_NE(*pool, nullptr);
  EXPECT_EQ((*pool)->capacity(), 3u);
  EXPECT_EQ((*pool)->created(), 0u);
  EXPECT_EQ((*pool)->idle(), 0u);
  EXPECT_EQ(c.made.load(), 0);
}

TEST(ObjectPoolCreate, RejectsZeroCapacity) {
  counters c;
  auto pool = widget_pool::create(0, widget_factory(&c));
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pool.status().message(), HasSubstr("capacity must be at least 1"));
  EXPECT_THAT(pool.status().message(), HasSubstr("widget"));

  auto defaulted = modref::object_pool<plain>::create(0);
  ASSERT_FALSE(defaulted.ok());
  EXPECT_EQ(defaulted.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ObjectPoolCreate, RejectsAnEmptyFactory) {
  std::unique_ptr<widget> (*null_function)() = nullptr;
  absl::AnyInvocable<std::unique_ptr<widget>()> empty_other_signature;
  std::vector<absl::StatusOr<std::unique_ptr<widget_pool>>> results;
  results.push_back(widget_pool::create(2, nullptr));
  results.push_back(widget_pool::create(2, widget_pool::factory_type()));
  results.push_back(widget_pool::create(2, null_function));
  results.push_back(widget_pool::create(2, std::move(empty_other_signature)));
  for (const auto& result : results) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(result.status().message(), HasSubstr("factory is empty"));
  }
}

TEST(ObjectPoolCreate, ConstructorsThrowInvalidArgument) {
  counters c;
  EXPECT_THROW({ widget_pool pool(0, widget_factory(&c)); }, std::invalid_argument);
  EXPECT_THROW({ widget_pool pool(2, nullptr); }, std::invalid_argument);
  EXPECT_THROW({ modref::object_pool<plain> pool(0); }, std::invalid_argument);
  try {
    widget_pool pool(0, widget_factory(&c));
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("capacity must be at least 1"));
  }
}

TEST(ObjectPoolCreate, ConstructorBuildsInPlace) {
  counters c;
  widget_pool pool(2, widget_factory(&c));
  EXPECT_EQ(pool.capacity(), 2u);
  auto lease = pool.acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ((**lease).serial, 0);
}

TEST(ObjectPoolCreate, DefaultFactoryValueInitialises) {
  auto pool = modref::object_pool<plain>::create(2).value();
  auto lease = pool->acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ((*lease)->number, 0);  // make_unique<T>() value-initialises
  EXPECT_EQ((*lease)->text, "");

  modref::object_pool<plain> in_place(1);
  auto other = in_place.try_acquire();
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ((*other)->number, 0);
}

TEST(ObjectPoolCreate, FactoryMayReturnAStatusOr) {
  auto pool = widget_pool::create(1, []() -> absl::StatusOr<std::unique_ptr<widget>> {
                static counters c;
                return std::make_unique<widget>(&c, 7);
              }).value();
  auto lease = pool->acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ((*lease)->serial, 7);
}

// As in the header's example: a static "open" function that can fail, passed by address.
struct opened_resource {
  static absl::StatusOr<std::unique_ptr<opened_resource>> open() {
    return std::make_unique<opened_resource>();
  }
};

TEST(ObjectPoolCreate, FactoryMayBeAFunction) {
  auto pool = modref::object_pool<opened_resource>::create(2, &opened_resource::open);
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto lease = (*pool)->acquire();
  EXPECT_TRUE(lease.ok()) << lease.status();
}

// ---------------------------------------------------------------------------------------------
// Lazy creation and reuse

TEST(ObjectPool, CreatesLazilyAndOnlyWhenNoObjectIsIdle) {
  counters c;
  auto pool = make_widget_pool(3, &c);
  {
    auto a = pool->acquire();
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(c.made.load(), 1);
    EXPECT_EQ(pool->created(), 1u);
    EXPECT_EQ(pool->idle(), 0u);

    auto b = pool->acquire();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(c.made.load(), 2);
    EXPECT_EQ(pool->created(), 2u);
    EXPECT_NE((*a)->serial, (*b)->serial);
  }
  EXPECT_EQ(pool->created(), 2u);
  EXPECT_EQ(pool->idle(), 2u);

  // Two idle objects: the next two acquires create nothing; the third creates the last one.
  auto x = pool->acquire();
  auto y = pool->acquire();
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_EQ(c.made.load(), 2);
  EXPECT_EQ(pool->idle(), 0u);
  auto z = pool->acquire();
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(c.made.load(), 3);
  EXPECT_EQ(pool->created(), 3u);
  EXPECT_EQ(c.destroyed.load(), 0);
}

TEST(ObjectPool, LendsTheReturnedObjectWithTheStateItWasLeftIn) {
  counters c;
  auto pool = make_widget_pool(2, &c);
  widget* first = nullptr;
  {
    auto lease = pool->acquire();
    ASSERT_TRUE(lease.ok());
    first = lease->get();
    (*lease)->value = 42;
  }
  auto again = pool->acquire();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), first);  // the idle object, not a new one
  EXPECT_EQ((*again)->value, 42);  // the pool does not reset objects
  EXPECT_EQ(c.made.load(), 1);
}

TEST(ObjectPool, DestroysIdleObjectsWithThePool) {
  counters c;
  auto pool = make_widget_pool(4, &c);
  {
    auto a = pool->acquire();
    auto b = pool->acquire();
    auto d = pool->acquire();
  }
  EXPECT_EQ(c.destroyed.load(), 0);
  pool.reset();
  EXPECT_EQ(c.made.load(), 3);
  EXPECT_EQ(c.destroyed.load(), 3);
}

TEST(ObjectPool, FactoryRunsOutsideThePoolLock) {
  counters c;
  widget_pool* self = nullptr;
  std::size_t created_seen = 99;
  std::size_t idle_seen = 99;
  auto pool = widget_pool::create(2, [&]() {
                // Would deadlock if the factory ran with the pool's mutex held.
                created_seen = self->created();
                idle_seen = self->idle();
                return std::make_unique<widget>(&c, 0);
              }).value();
  self = pool.get();
  auto lease = pool->acquire();
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(created_seen, 0u);  // the object being created does not count yet
  EXPECT_EQ(idle_seen, 0u);
  EXPECT_EQ(pool->created(), 1u);
}

// ---------------------------------------------------------------------------------------------
// The lease

static_assert(!std::is_copy_constructible_v<widget_pool::lease>, "one object, one borrower");
static_assert(!std::is_copy_assignable_v<widget_pool::lease>);
static_assert(std::is_nothrow_move_constructible_v<widget_pool::lease>);
static_assert(std::is_nothrow_move_assignable_v<widget_pool::lease>);
static_assert(std::is_nothrow_default_constructible_v<widget_pool::lease>);
static_assert(!std::is_convertible_v<widget_pool::lease, bool>, "explicit operator bool");

TEST(ObjectPoolLease, GivesAccessToTheObject) {
  counters c;
  auto pool = make_widget_pool(1, &c);
  auto result = pool->acquire();
  ASSERT_TRUE(result.ok());
  const widget_pool::lease& lease = *result;
  EXPECT_TRUE(static_cast<bool>(lease));
  ASSERT_NE(lease.get(), nullptr);
  EXPECT_EQ(&*lease, lease.get());
  EXPECT_EQ(lease.operator->(), lease.get());
  lease->value = 5;  // a const lease still lends a mutable object, like a const unique_ptr
  EXPECT_EQ((*lease).value, 5);
}

TEST(ObjectPoolLease, DefaultConstructedIsEmpty) {
  widget_pool::lease lease;
  EXPECT_FALSE(lease);
  EXPECT_EQ(lease.get(), nullptr);
  lease.reset();  // nothing to return
  EXPECT_FALSE(lease);
}

TEST(ObjectPoolLease, ResetReturnsTheObjectEarly) {
  counters c;
  auto pool = make_widget_pool(1, &c);
  auto lease = pool->acquire();
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(pool->idle(), 0u);
  lease->reset();
  EXPECT_FALSE(*lease);
  EXPECT_EQ(pool->idle(), 1u);
  lease->reset();  // idempotent
  EXPECT_EQ(pool->idle(), 1u);
}

TEST(ObjectPoolLease, MoveTransfersTheObject) {
  counters c;
  auto pool = make_widget_pool(2, &c);
  auto result = pool->acquire();
  ASSERT_TRUE(result.ok());
  widget* object = result->get();

  widget_pool::lease moved(std::move(*result));
  EXPECT_FALSE(*result);  // NOLINT: testing moved-from state
  EXPECT_EQ(moved.get(), object);
  EXPECT_EQ(pool->idle(), 0u);

  widget_pool::lease assigned;
  assigned = std::move(moved);
  EXPECT_FALSE(moved);  // NOLINT: testing moved-from state
  EXPECT_EQ(assigned.get(), object);
  EXPECT_EQ(pool->idle(), 0u);
  EXPECT_EQ(pool->created(), 1u);
}

TEST(ObjectPoolLease, MoveAssignmentReturnsTheObjectItHeld) {
  counters c;
  auto pool = make_widget_pool(2, &c);
  auto a = pool->acquire();
  auto b = pool->acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  widget* b_object = b->get();
  *a = std::move(*b);  // a's object goes back to the pool
  EXPECT_EQ(a->get(), b_object);
  EXPECT_EQ(pool->idle(), 1u);
  EXPECT_EQ(pool->created(), 2u);
}

TEST(ObjectPoolLease, SelfMoveAssignmentKeepsTheObject) {
  counters c;
  auto pool = make_widget_pool(1, &c);
  auto result = pool->acquire();
  ASSERT_TRUE(result.ok());
  widget_pool::lease& lease = *result;
  widget* object = lease.get();
  auto& alias = lease;
  lease = std::move(alias);
  EXPECT_EQ(lease.get(), object);
  EXPECT_EQ(pool->idle(), 0u);
}

TEST(ObjectPoolLease, MayEndOnAnotherThread) {
  counters c;
  auto pool = make_widget_pool(1, &c);
  auto result = pool->acquire();
  ASSERT_TRUE(result.ok());
  (*result)->value = 1;
  std::thread other([lease = std::move(*result)]() mutable {
    lease->value += 1;  // ordered after the write above by the thread start
    lease.reset();      // returned to the pool on this thread
  });
  other.join();
  EXPECT_EQ(pool->idle(), 1u);
  auto again = pool->try_acquire();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->value, 2);
}

// ---------------------------------------------------------------------------------------------
// Waiting and timeouts

TEST(ObjectPoolWait, TryAcquireFailsAtOnceWhenEverythingIsLent) {
  counters c;
  auto pool = make_widget_pool(1, &c);
  auto held = pool->acquire();
  ASSERT_TRUE(held.ok());
  auto second = pool->try_acquire();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(second.status().message(), HasSubstr("capacity 1"));
  EXPECT_THAT(second.status().message(), HasSubstr("widget"));
  EXPECT_EQ(c.made.load(), 1);

  held->reset();
  auto third = pool->try_acquire();
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST(ObjectPoolWait, TryAcquireCreatesWhenASlotIsFree) {
  counters c;
  auto pool = make_widget_pool(2, &c);
  auto a = pool->try_acquire();
  auto b = pool->try_acquire();
  EXPECT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(c.made.load(), 2);
}

TEST(ObjectPoolWait, AcquireForTimesOutWithDeadlineExceeded) {
  counters c;
  auto pool = make_widget_pool(2, &c);
  auto a = pool->acquire();
  auto b = pool->acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  // This wait is meant to expire: nobody returns an object. Any value is correct; 20ms keeps the
  // test quick.
  auto result = pool->acquire_for(absl::Milliseconds(20));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.status().message(), HasSubstr("within 20ms"));
  EXPECT_THAT(result.status().message(), HasSubstr("capacity 2"));
  EXPECT_EQ(c.made.load(), 2);
}

TEST(ObjectPoolWait, AcquireForWithZeroOrNegativeTimeoutDoesNotWait) {
  counters c;
  auto pool = make_widget_pool(1, &c);
  auto held = pool->acquire();
  ASSERT_TRUE(held.ok());
  for (absl::Duration timeout : {absl::ZeroDuration(), absl::Seconds(-5)}) {
    auto result = pool->acquire_for(timeout);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_THAT(result.status().message(), HasSubstr("does not wait"));
  }
}

TEST(ObjectPoolWait, AcquireForSucceedsAtOnceWhenAnObjectIsAvailable) {
  counters c;
  auto pool = make_widget_pool(1, &c);
  { auto created = pool->acquire_for(kNeverInPractice); }   // creates (a slot is free)
  auto idle = pool->acquire_for(absl::InfiniteDuration());  // lends the idle object
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_EQ(c.made.load(), 1);
}

// The waiter below may or may not have reached its wait before the lease is returned; either
// way it must end up with the object. What it must never do is get an object while we hold it.
void expect_waiter_gets_the_returned_object(bool bounded) {
  counters c;
  auto pool = make_widget_pool(1, &c);
  auto held = pool->acquire();
  ASSERT_TRUE(held.ok());
  const int serial = (*held)->serial;

  notification started;
  std::atomic<bool> done{false};
  absl::StatusOr<widget_pool::lease> got;
  std::thread waiter([&] {
    started.Notify();
    got = bounded ? pool->acquire_for(kNeverInPractice) : pool->acquire();
    done.store(true);
  });
  started.WaitForNotification();
  EXPECT_FALSE(done.load());  // capacity 1 and we hold the only object
  held->reset();
  waiter.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->serial, serial);
  EXPECT_EQ(c.made.load(), 1);
}

TEST(ObjectPoolWait, AcquireWaitsForAReturnedObject) {
  expect_waiter_gets_the_returned_object(false);
}

TEST(ObjectPoolWait, AcquireForWaitsForAReturnedObject) {
  expect_waiter_gets_the_returned_object(true);
}

// ---------------------------------------------------------------------------------------------
// Factory failures

TEST(ObjectPoolFactory, NullptrGivesUnavailableAndKeepsTheSlot) {
  counters c;
  int calls = 0;
  auto pool = widget_pool::create(1, [&]() -> std::unique_ptr<widget> {
                if (calls++ == 0) return nullptr;
                return std::make_unique<widget>(&c, calls);
              }).value();
  auto failed = pool->acquire();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failed.status().message(), HasSubstr("nullptr"));
  EXPECT_EQ(pool->created(), 0u);
  // Capacity 1: try_acquire succeeds only if the failed creation gave its slot back.
  auto next = pool->try_acquire();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(pool->created(), 1u);
}

TEST(ObjectPoolFactory, ErrorStatusIsPassedThroughAndKeepsTheSlot) {
  counters c;
  int calls = 0;
  auto pool = widget_pool::create(1, [&]() -> absl::StatusOr<std::unique_ptr<widget>> {
                if (calls++ == 0) return absl::PermissionDeniedError("no key container");
                return std::make_unique<widget>(&c, calls);
              }).value();
  auto failed = pool->acquire();
  EXPECT_EQ(failed.status(), absl::PermissionDeniedError("no key container"));
  EXPECT_EQ(pool->created(), 0u);
  auto next = pool->try_acquire();
  EXPECT_TRUE(next.ok()) << next.status();
}

TEST(ObjectPoolFactory, OkStatusHoldingNullptrGivesUnavailable) {
  auto pool = widget_pool::create(1, []() -> absl::StatusOr<std::unique_ptr<widget>> {
                return std::unique_ptr<widget>();
              }).value();
  EXPECT_EQ(pool->acquire().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pool->try_acquire().status().code(), absl::StatusCode::kUnavailable);  // not kDeadline
}

TEST(ObjectPoolFactory, ExceptionPropagatesAndKeepsTheSlot) {
  counters c;
  int calls = 0;
  auto pool = widget_pool::create(1, [&]() -> std::unique_ptr<widget> {
                if (calls++ == 0) throw std::runtime_error("device lost");
                return std::make_unique<widget>(&c, calls);
              }).value();
  EXPECT_THROW((void)pool->acquire(), std::runtime_error);
  EXPECT_EQ(pool->created(), 0u);
  auto next = pool->try_acquire();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(calls, 2);
}

TEST(ObjectPoolFactory, FailedCreationDoesNotStrandAWaiter) {
  counters c;
  notification in_factory;
  notification fail_now;
  std::atomic<int> calls{0};
  auto pool = widget_pool::create(1, [&]() -> std::unique_ptr<widget> {
                if (calls.fetch_add(1) == 0) {
                  in_factory.Notify();
                  fail_now.WaitForNotification();
                  return nullptr;
                }
                return std::make_unique<widget>(&c, 1);
              }).value();

  absl::StatusOr<widget_pool::lease> first_result;
  std::thread first([&] { first_result = pool->acquire(); });
  in_factory.WaitForNotification();

  // The only slot is reserved by the running factory call: nothing to lend, nothing to create.
  // The diagnostics answer while the factory runs (it does not hold the pool's lock).
  EXPECT_EQ(pool->try_acquire().status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(pool->created(), 0u);
  EXPECT_EQ(pool->idle(), 0u);

  // The second thread usually waits for that slot by the time the factory fails; if it arrives
  // later it finds the slot free. Either way it must get an object. Bounded so that a stranded
  // waiter fails the test instead of hanging it.
  notification second_started;
  absl::StatusOr<widget_pool::lease> second_result;
  std::thread second([&] {
    second_started.Notify();
    second_result = pool->acquire_for(kNeverInPractice);
  });
  second_started.WaitForNotification();
  fail_now.Notify();
  first.join();
  second.join();

  EXPECT_EQ(first_result.status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(second_result.ok()) << second_result.status();
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(pool->created(), 1u);
}

TEST(ObjectPoolFactory, CallsNeverOverlap) {
  counters c;
  notification first_entered;
  notification second_entered;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> calls{0};
  auto pool = widget_pool::create(2, [&]() -> std::unique_ptr<widget> {
                if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
                const int call = calls.fetch_add(1);
                if (call == 0) {
                  first_entered.Notify();
                  // In a correct pool the second call cannot start while this one runs, so this
                  // wait is meant to expire; if calls could overlap, the second one would end it
                  // early and be counted. 100ms gives the second thread ample time to reach the
                  // factory (it is already running), at little cost to the test.
                  (void)second_entered.WaitForNotificationWithTimeout(absl::Milliseconds(100));
                } else {
                  second_entered.Notify();
                }
                inside.fetch_sub(1);
                return std::make_unique<widget>(&c, call);
              }).value();

  absl::StatusOr<widget_pool::lease> a;
  absl::StatusOr<widget_pool::lease> b;
  std::thread first([&] { a = pool->acquire(); });
  first_entered.WaitForNotification();
  std::thread second([&] { b = pool->acquire(); });  // a slot is free: it creates too
  first.join();
  second.join();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(overlaps.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Discard

TEST(ObjectPoolDiscard, DestroysTheObjectAndFreesItsSlot) {
  counters c;
  auto pool = make_widget_pool(1, &c);
  auto lease = pool->acquire();
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)->serial, 0);
  lease->discard();
  EXPECT_FALSE(*lease);
  EXPECT_EQ(c.destroyed.load(), 1);
  EXPECT_EQ(pool->created(), 0u);
  EXPECT_EQ(pool->idle(), 0u);

  auto fresh = pool->try_acquire();  // capacity 1: the slot must be free again
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ((*fresh)->serial, 1);  // a new object, not the discarded one
  EXPECT_EQ(c.made.load(), 2);
}

TEST(ObjectPoolDiscard, WakesAWaiterThatCreatesAFreshObject) {
  counters c;
  auto pool = make_widget_pool(1, &c);
  auto held = pool->acquire();
  ASSERT_TRUE(held.ok());

  notification started;
  absl::StatusOr<widget_pool::lease> got;
  std::thread waiter([&] {
    started.Notify();
    got = pool->acquire_for(kNeverInPractice);
  });
  started.WaitForNotification();
  held->discard();
  waiter.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->serial, 1);
  EXPECT_EQ(c.destroyed.load(), 1);
  EXPECT_EQ(pool->created(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Contention: 8 threads, capacity 3

struct stress_object {
  explicit stress_object(std::atomic<int>* live_count, std::atomic<int>* max_live_count)
      : live(live_count) {
    const int now = live->fetch_add(1) + 1;
    int seen = max_live_count->load();
    while (now > seen && !max_live_count->compare_exchange_weak(seen, now)) {
    }
  }
  ~stress_object() { live->fetch_sub(1); }
  stress_object(const stress_object&) = delete;
  stress_object& operator=(const stress_object&) = delete;

  std::atomic<int>* live;
  std::atomic<bool> busy{false};  // set while lent: catches an object lent twice
  long uses = 0;                  // plain: only the borrower touches it (TSan checks the hand-off)
};

TEST(ObjectPoolStress, CapacityIsNeverExceededUnderContention) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 2000;
  constexpr std::size_t kCapacity = 3;

  std::atomic<int> live{0};
  std::atomic<int> max_live{0};
  std::atomic<int> in_factory{0};
  std::atomic<int> factory_overlaps{0};
  auto pool = modref::object_pool<stress_object>::create(kCapacity, [&] {
                if (in_factory.fetch_add(1) != 0) factory_overlaps.fetch_add(1);
                auto object = std::make_unique<stress_object>(&live, &max_live);
                in_factory.fetch_sub(1);
                return object;
              }).value();

  std::atomic<int> in_use{0};
  std::atomic<int> max_in_use{0};
  std::atomic<int> lent_twice{0};
  std::atomic<int> unexpected_errors{0};
  std::atomic<long> successes{0};
  notification go;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      go.WaitForNotification();  // start together for maximum contention
      for (int i = 0; i < kIterations; ++i) {
        const int kind = (i + t) % 3;
        absl::StatusOr<modref::object_pool<stress_object>::lease> lease =
            kind == 0   ? pool->acquire()
            : kind == 1 ? pool->acquire_for(kNeverInPractice)
                        : pool->try_acquire();
        if (!lease.ok()) {
          // Only try_acquire may fail, and only because everything is lent out.
          if (kind != 2 || lease.status().code() != absl::StatusCode::kDeadlineExceeded) {
            unexpected_errors.fetch_add(1);
          }
          continue;
        }
        stress_object& object = **lease;
        if (object.busy.exchange(true)) lent_twice.fetch_add(1);
        const int now = in_use.fetch_add(1) + 1;
        int seen = max_in_use.load();
        while (now > seen && !max_in_use.compare_exchange_weak(seen, now)) {
        }
        ++object.uses;
        in_use.fetch_sub(1);
        object.busy.store(false);
        successes.fetch_add(1);
        if (i % 64 == t) lease->discard();  // exercise slot freeing under contention
      }
    });
  }
  go.Notify();
  for (auto& thread : threads) thread.join();

  EXPECT_LE(max_in_use.load(), static_cast<int>(kCapacity));
  EXPECT_GE(max_in_use.load(), 1);
  EXPECT_LE(max_live.load(), static_cast<int>(kCapacity));
  EXPECT_EQ(lent_twice.load(), 0);
  EXPECT_EQ(factory_overlaps.load(), 0);
  EXPECT_EQ(unexpected_errors.load(), 0);
  EXPECT_GT(successes.load(), 0);
  EXPECT_LE(pool->created(), kCapacity);
  EXPECT_EQ(pool->idle(), pool->created());
  EXPECT_EQ(live.load(), static_cast<int>(pool->created()));
}

// ---------------------------------------------------------------------------------------------
// The seed scenario: a non-thread-safe hasher shared by eight threads through a pool of three.

// FNV-1a, 64 bits. Deliberately not thread-safe: the running state lives in a member and is
// updated a byte at a time, so two threads feeding one hasher at once interleave their bytes and
// both get a wrong hash (and TSan reports the race). Through the pool, each thread has the hasher
// to itself for the length of its lease.
class fnv1a_hasher {
 public:
  void clear() { state_ = kOffsetBasis; }
  void update(std::string_view data) {
    for (const char ch : data) {
      state_ ^= static_cast<unsigned char>(ch);
      state_ *= kPrime;
    }
  }
  std::uint64_t value() const { return state_; }

  std::set<int> served;  // which test threads used this hasher (only its borrower touches it)

 private:
  static constexpr std::uint64_t kOffsetBasis = 14695981039346656037ull;
  static constexpr std::uint64_t kPrime = 1099511628211ull;
  std::uint64_t state_ = kOffsetBasis;
};

std::uint64_t fnv1a(std::string_view data) {
  fnv1a_hasher hasher;
  hasher.update(data);
  return hasher.value();
}

TEST(ObjectPoolSeed, HasherReferenceValues) {
  EXPECT_EQ(fnv1a(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a("foobar"), 0x85944171f73967e8ull);
}

TEST(ObjectPoolSeed, EightThreadsGetCorrectHashesFromThreePooledHashers) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 300;
  constexpr std::size_t kHashers = 3;
  auto pool = modref::object_pool<fnv1a_hasher>::create(kHashers).value();

  // Each thread hashes its own input, fed in small pieces to widen the window in which a shared,
  // unsynchronised hasher would mix two threads' bytes.
  std::vector<std::string> inputs;
  std::vector<std::uint64_t> expected;
  for (int t = 0; t < kThreads; ++t) {
    std::string input;
    for (int i = 0; i < 512 + 37 * t; ++i)
      input.push_back(static_cast<char>('a' + (i * (t + 3)) % 26));
    expected.push_back(fnv1a(input));
    inputs.push_back(std::move(input));
  }

  std::vector<int> wrong(kThreads, 0);
  std::vector<int> errors(kThreads, 0);
  notification go;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      go.WaitForNotification();
      const std::string_view input = inputs[t];
      for (int i = 0; i < kIterations; ++i) {
        auto lease = pool->acquire();
        if (!lease.ok()) {
          ++errors[t];
          continue;
        }
        fnv1a_hasher& hasher = **lease;
        hasher.clear();  // the previous borrower left its state behind
        for (std::size_t at = 0; at < input.size(); at += 16) hasher.update(input.substr(at, 16));
        if (hasher.value() != expected[t]) ++wrong[t];
        hasher.served.insert(t);
      }
    });
  }
  go.Notify();
  for (auto& thread : threads) thread.join();

  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(wrong[t], 0) << "thread " << t;
    EXPECT_EQ(errors[t], 0) << "thread " << t;
  }
  // Never more than three hashers, and since eight threads shared at most three of them, some
  // hasher served at least three threads (pigeonhole): the sharing really happened.
  const std::size_t created = pool->created();
  ASSERT_GE(created, 1u);
  ASSERT_LE(created, kHashers);
  std::vector<modref::object_pool<fnv1a_hasher>::lease> all;
  std::size_t most_served = 0;
  for (std::size_t i = 0; i < created; ++i) {
    auto lease = pool->try_acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    most_served = (std::max)(most_served, (*lease)->served.size());
    all.push_back(*std::move(lease));
  }
  EXPECT_EQ(pool->created(), created);  // lending them all created nothing new
  EXPECT_GE(most_served, (kThreads + created - 1) / created);
}

// ---------------------------------------------------------------------------------------------
// Contract violations fail fast

using ObjectPoolDeathTest = ::testing::Test;

TEST(ObjectPoolDeathTest, DestroyingThePoolWithAnOutstandingLeaseFailsFast) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto pool = modref::object_pool<plain>::create(2).value();
        auto held = pool->acquire();
        pool.reset();  // `held` still points into the pool
      },
      "modref::object_pool<.*plain> destroyed with 1 object.* still leased");
}

TEST(ObjectPoolDeathTest, DereferencingAnEmptyLeaseFailsFast) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  widget_pool::lease empty;
  EXPECT_DEATH((void)*empty, "");
  EXPECT_DEATH((void)empty->value, "");
}

TEST(ObjectPoolDeathTest, DiscardingAnEmptyLeaseFailsFast) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  widget_pool::lease empty;
  EXPECT_DEATH(empty.discard(), "");
}

}  // namespace
