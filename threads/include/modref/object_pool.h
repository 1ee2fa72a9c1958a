// <modref/object_pool.h> — a bounded pool of lazily created objects, lent to one thread at a time.
//
// Some objects are cheap to use but expensive to create, and not safe to share: a hasher or a
// cipher context that keeps running state in its members, a parser with scratch buffers, a
// database statement. Creating one per call wastes the creation; one global instance behind a lock
// serialises every caller. modref::object_pool<T> sits in between: it creates at most `capacity`
// objects, each on first need, and lends them out through a RAII lease. While a thread holds the
// lease, the object is that thread's alone, so the object itself needs no locking; when the lease
// ends the object goes back to the pool for the next thread. A pool of four hashers serves any
// number of threads with correct hashes, four at a time.
//
// Example: a service that hashes on many threads with at most four (non-thread-safe) hashers.
//
//   class digest_service {
//    public:
//     absl::StatusOr<std::uint64_t> digest(std::string_view data) {
//       // Waits while all four hashers are lent out; gives up after two seconds.
//       absl::StatusOr<modref::object_pool<fnv1a_hasher>::lease> lease =
//           hashers_.acquire_for(absl::Seconds(2));
//       if (!lease.ok()) return lease.status();  // DeadlineExceeded names capacity and timeout
//       fnv1a_hasher& hasher = **lease;          // ours alone until the lease ends
//       hasher.clear();                          // a returned object keeps its old state
//       hasher.update(data);
//       return hasher.value();
//     }                                          // the lease gives the hasher back here
//
//    private:
//     // Up to four hashers, each created on first need by make_unique<fnv1a_hasher>().
//     modref::object_pool<fnv1a_hasher> hashers_{4};  // throws std::invalid_argument on 0
//   };
//
//   // A factory that can fail (static bcrypt_hasher::open() returns
//   // absl::StatusOr<std::unique_ptr<bcrypt_hasher>>), and create() instead of the constructor:
//   auto pool = modref::object_pool<bcrypt_hasher>::create(4, &bcrypt_hasher::open);
//   if (!pool.ok()) return pool.status();  // InvalidArgument: capacity 0 or an empty factory
//
// Lifetime
//   - Objects are created lazily by acquire*(): only when no idle object is left and fewer than
//     capacity() objects exist. Idle objects live until the pool is destroyed; lease::discard()
//     destroys one early and frees its slot. The pool never resets an object: a borrower gets it in
//     whatever state the previous borrower left it.
//   - A failed creation (the factory returns an error or nullptr, or throws) gives its slot back
//     before acquire*() returns or the exception leaves it, so no slot is lost and a thread waiting
//     for that slot is woken to try the factory itself.
//   - The pool is neither copyable nor movable: leases point into it. Every lease must end, and no
//     thread may be inside acquire*(), before the pool is destroyed; the destructor checks this and
//     ends the process (GSL Expects) with a message naming T and the count. Idle objects are
//     destroyed by the pool's destructor, on the thread that runs it.
//   - A pool that is a DLL global meets process termination with its worker threads already killed,
//     possibly while they held leases; hold it in modref::termination_safe (Windows) so that its
//     destructor does not run, and does not trip the check, during ExitProcess.
//
// Thread safety / memory ordering
//   - Every member function of object_pool except the destructor may be called from any number of
//     threads at once. A lease is a plain handle: one thread uses it at a time, but it may be moved
//     to, and ended on, another thread.
//   - The pool's state (idle objects and counters) is guarded by one modref::mutex, `mutex_`;
//     there are no atomics. Returning an object unlocks `mutex_` and lending it again locks
//     `mutex_`, so everything a borrower wrote to the object happens-before the next borrower's
//     first access. This is what makes non-thread-safe objects safe to pool.
//   - modref::mutex, not absl::Mutex: borrowers are often pool callbacks of a DLL that can be
//     unloaded, and a contended absl::Mutex leaves the waiting thread an Abseil identity whose
//     cleanup is code in that DLL (see <modref/mutex.h>). On Windows it is an SRWLOCK, elsewhere
//     std::mutex; neither keeps anything per thread.
//   - Waiting acquirers block in mutex::await / await_for on the condition "an object is idle or
//     a slot is free", which is re-evaluated whenever `mutex_` is unlocked, so every return,
//     discard and failed creation wakes a waiter that can now proceed, and a waiter that times
//     out cannot swallow a wake-up meant for another (the lost-wakeup trap of a condition
//     variable signalled once per return). The mutex is not FIFO: under heavy contention a
//     waiter may be overtaken by later arrivals.
//   - The factory runs with `factory_mutex_` held and `mutex_` not held: calls to it never overlap
//     (the factory need not be thread-safe), and a slow factory does not hold up threads that
//     return objects or borrow idle ones. The factory may call capacity()/created()/idle(); it must
//     not acquire from its own pool (that would lock `factory_mutex_` again). Lock order:
//     `factory_mutex_` before `mutex_`; the pool itself never holds both.
//   - capacity() is immutable. created() and idle() lock `mutex_` and return a snapshot that may be
//     stale by the time the caller looks at it: diagnostics, not synchronisation.
#ifndef MODREF_OBJECT_POOL_H_
#define MODREF_OBJECT_POOL_H_

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gsl/assert"
#include "modref/mutex.h"
#include "modref/refcount.h"  // detail::type_name<T>() for messages

namespace modref {

// modref::object_pool<T>
// A pool of at most capacity() objects of type T, created on demand by a factory and lent out
// through object_pool<T>::lease.
//
// Contract:
//   - capacity() >= 1 and the factory is not empty; create() reports a violation as
//     InvalidArgument, the constructors throw std::invalid_argument.
//   - At most capacity() objects exist at any time (idle, leased, or being created).
//   - The pool outlives every lease and every call into it (checked at destruction; see above).
template <class T>
class object_pool {
  static_assert(std::is_object_v<T> && !std::is_array_v<T>,
                "object_pool<T>: T must be a complete object type, not a reference, function or "
                "array; to pool buffers, pool a std::vector or a struct that holds the array");

 public:
  using value_type = T;
  // The factory creates one T. It may return std::unique_ptr<T> (nullptr means "could not") or
  // absl::StatusOr<std::unique_ptr<T>> (an error status says why); both convert to this type.
  using factory_type = absl::AnyInvocable<absl::StatusOr<std::unique_ptr<T>>()>;

  class lease;

  // object_pool::create(capacity, factory)
  // Returns a new pool, or InvalidArgument when `capacity` is 0 or `factory` is empty (a null
  // function pointer or an empty AnyInvocable; an empty std::function is not detectable and
  // throws std::bad_function_call from acquire*()). No object is created yet.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<object_pool>> create(std::size_t capacity,
                                                                           factory_type factory) {
    if (absl::Status invalid = validate(capacity, factory); !invalid.ok()) return invalid;
    return std::unique_ptr<object_pool>(new object_pool(capacity, std::move(factory)));
  }

  // object_pool::create(capacity)
  // As above, with objects created by std::make_unique<T>().
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<object_pool>> create(
      std::size_t capacity) requires std::default_initializable<T> {
    return create(capacity, default_factory());
  }

  // object_pool::object_pool(capacity, factory)
  // Constructs the pool in place. Throws std::invalid_argument when `capacity` is 0 or `factory`
  // is empty, with the message create() would put in its status.
  object_pool(std::size_t capacity, factory_type factory)
      : capacity_(capacity), factory_(std::move(factory)) {
    if (absl::Status invalid = validate(capacity_, factory_); !invalid.ok()) {
      throw std::invalid_argument(std::string(invalid.message()));
    }
  }

  // object_pool::object_pool(capacity)
  // As above, with objects created by std::make_unique<T>().
  explicit object_pool(std::size_t capacity) requires std::default_initializable<T>
      : object_pool(capacity, default_factory()) {}

  object_pool(const object_pool&) = delete;  // leases point into the pool: it has one address
  object_pool& operator=(const object_pool&) = delete;  // same; and moves are not declared

  // object_pool::~object_pool()
  // Destroys the idle objects. Ends the process (GSL Expects, after a message on stderr) if a
  // lease is still outstanding, a creation is still running or a thread still waits in acquire*().
  ~object_pool() {
    std::size_t busy = 0;
    std::size_t waiting = 0;
    {
      mutex_lock lock(mutex_);
      busy = created_ + creating_ - idle_.size();
      waiting = waiting_;
    }
    if (busy != 0 || waiting != 0) [[unlikely]] {
      // A destructor is noexcept: building the message may fail to allocate, and that must not
      // turn into std::terminate before the message is out (docs/design.md, "Destructors build
      // no messages"). The fallback is a string literal.
      try {
        const std::string message = absl::StrCat(
            pool_name(), " destroyed with ", busy, " object(s) still leased or being created and ",
            waiting,
            " thread(s) waiting in acquire; every lease must end before its pool; aborting\n");
        std::fputs(message.c_str(), stderr);
      } catch (...) {
        std::fputs(
            "modref::object_pool destroyed with objects still leased or being created, or threads "
            "waiting in acquire (no memory for the details); every lease must end before its "
            "pool; aborting\n",
            stderr);
      }
      std::fflush(stderr);
    }
    Expects(busy == 0 && waiting == 0);
  }

  // object_pool::acquire()
  // Lends an object, waiting as long as it takes for one to be returned (or a slot to free up),
  // and creating one when none is idle and fewer than capacity() exist. Errors come only from the
  // factory: its own error status, or Unavailable when it returned nullptr; an exception thrown by
  // the factory propagates. In every failure the slot is given back.
  [[nodiscard]] absl::StatusOr<lease> acquire() ABSL_LOCKS_EXCLUDED(mutex_, factory_mutex_) {
    return acquire_impl(absl::InfiniteDuration());
  }

  // object_pool::acquire_for(timeout)
  // As acquire(), but waits at most `timeout` for an object or a free slot, then fails with
  // DeadlineExceeded (the message names T, the capacity and the timeout). A zero or negative
  // timeout does not wait; absl::InfiniteDuration() waits like acquire(). The timeout bounds the
  // wait only: a factory call that has started is not interrupted.
  [[nodiscard]] absl::StatusOr<lease> acquire_for(absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mutex_, factory_mutex_) {
    return acquire_impl(timeout);
  }

  // object_pool::try_acquire()
  // acquire_for(absl::ZeroDuration()): lends an idle object, or creates one if a slot is free,
  // and otherwise fails at once with DeadlineExceeded.
  [[nodiscard]] absl::StatusOr<lease> try_acquire() ABSL_LOCKS_EXCLUDED(mutex_, factory_mutex_) {
    return acquire_impl(absl::ZeroDuration());
  }

  // object_pool::capacity()
  // The most objects that may exist at once, as given at construction.
  std::size_t capacity() const noexcept { return capacity_; }

  // object_pool::created()
  // How many objects exist now, idle or leased: created by the factory and not yet discarded.
  // Never more than capacity(). A snapshot (see the header comment).
  std::size_t created() const ABSL_LOCKS_EXCLUDED(mutex_) {
    mutex_lock lock(mutex_);
    return created_;
  }

  // object_pool::idle()
  // How many objects sit in the pool, ready to be lent without waiting or creating. A snapshot.
  std::size_t idle() const ABSL_LOCKS_EXCLUDED(mutex_) {
    mutex_lock lock(mutex_);
    return idle_.size();
  }

 private:
  // object_pool::pool_name()
  // "modref::object_pool<T>" with T spelled out, for messages. (std::string rather than
  // string_view: absl::StrCat takes absl::string_view, which need not be std::string_view.)
  static std::string pool_name() {
    const std::string_view type = detail::type_name<T>();
    return std::string("modref::object_pool<").append(type).append(">");
  }

  static factory_type default_factory() {
    return []() -> std::unique_ptr<T> { return std::make_unique<T>(); };
  }

  static absl::Status validate(std::size_t capacity, const factory_type& factory) {
    if (capacity == 0) {
      return absl::InvalidArgumentError(absl::StrCat(pool_name(), ": capacity must be at least 1"));
    }
    if (factory == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(pool_name(), ": the factory is empty"));
    }
    return absl::OkStatus();
  }

  // object_pool::can_lend()
  // The condition acquirers wait for: an idle object to take, or a free slot to create one in.
  bool can_lend() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return !idle_.empty() || created_ + creating_ < capacity_;
  }

  // object_pool::acquire_impl(timeout)
  // Waits under `mutex_` until can_lend() or the timeout, then either takes an idle object
  // (most recently returned first: the one likeliest to be warm in cache) or reserves a slot and
  // calls the factory outside `mutex_`.
  absl::StatusOr<lease> acquire_impl(absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mutex_, factory_mutex_) {
    bool ready = true;
    std::unique_ptr<T> object;  // stays null when a slot was reserved for a new object instead
    {
      mutex_lock lock(mutex_);
      ++waiting_;
      if (timeout == absl::InfiniteDuration()) {
        mutex_.await(this, &object_pool::can_lend);
      } else {
        ready = mutex_.await_for(this, &object_pool::can_lend, timeout);
      }
      --waiting_;
      if (ready && !idle_.empty()) {
        object = std::move(idle_.back());
        idle_.pop_back();
      } else if (ready) {
        // Room first (this may throw std::bad_alloc, before anything changed), then the slot.
        reserve_idle_room(created_ + creating_ + 1);
        ++creating_;
      }
    }
    if (!ready) return timed_out(timeout);
    if (object != nullptr) return lease(this, std::move(object));
    return create_for_lease();
  }

  absl::Status timed_out(absl::Duration timeout) const {
    if (timeout <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat(pool_name(), ": no object is idle and no slot is free (capacity ", capacity_,
                       "); try_acquire does not wait"));
    }
    return absl::DeadlineExceededError(absl::StrCat(
        pool_name(), ": no object became available within ", absl::FormatDuration(timeout),
        " (capacity ", capacity_, ", all lent out or being created)"));
  }

  // object_pool::reserve_idle_room(objects)
  // Makes room in idle_ for `objects` objects, so that give_back() never allocates and can be
  // noexcept. Grows geometrically up to capacity_, so a large capacity costs nothing up front.
  void reserve_idle_room(std::size_t objects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (idle_.capacity() >= objects) return;
    idle_.reserve((std::min)(capacity_, (std::max)(objects, 2 * idle_.capacity())));
  }

  // object_pool::slot_reservation
  // Owns the slot that acquire_impl() reserved (creating_) while the factory runs. commit() turns
  // it into a created object; otherwise the destructor gives it back, on every path out of
  // create_for_lease(): an error status, nullptr, or an exception from the factory.
  class slot_reservation {
   public:
    explicit slot_reservation(object_pool& pool) noexcept : pool_(pool) {}
    slot_reservation(const slot_reservation&) = delete;  // one reserved slot, one owner
    slot_reservation& operator=(const slot_reservation&) = delete;
    ~slot_reservation() {
      if (committed_) return;
      mutex_lock lock(pool_.mutex_);
      --pool_.creating_;  // unlocking wakes a waiter, which may now create in this slot
    }
    void commit() noexcept {
      mutex_lock lock(pool_.mutex_);
      --pool_.creating_;
      ++pool_.created_;
      committed_ = true;
    }

   private:
    object_pool& pool_;
    bool committed_ = false;
  };

  // object_pool::create_for_lease()
  // Calls the factory for the slot the caller reserved and lends the new object.
  absl::StatusOr<lease> create_for_lease() ABSL_LOCKS_EXCLUDED(mutex_, factory_mutex_) {
    slot_reservation slot(*this);
    absl::StatusOr<std::unique_ptr<T>> made = call_factory();
    if (!made.ok()) return std::move(made).status();
    if (*made == nullptr) {
      return absl::UnavailableError(
          absl::StrCat(pool_name(),
                       ": the factory returned no object (nullptr); its slot was given back and a "
                       "later acquire calls the factory again"));
    }
    slot.commit();
    return lease(this, *std::move(made));
  }

  // object_pool::call_factory()
  // One factory call at a time, under factory_mutex_ and outside mutex_ (see the header comment).
  absl::StatusOr<std::unique_ptr<T>> call_factory() ABSL_LOCKS_EXCLUDED(mutex_, factory_mutex_) {
    mutex_lock lock(factory_mutex_);
    return factory_();
  }

  // object_pool::give_back(object)
  // Puts a returned object on the idle list. Never allocates: reserve_idle_room() made room for
  // every object that exists.
  void give_back(std::unique_ptr<T> object) noexcept ABSL_LOCKS_EXCLUDED(mutex_) {
    mutex_lock lock(mutex_);
    idle_.push_back(std::move(object));  // unlocking wakes a waiter
  }

  // object_pool::discard_object(object)
  // Destroys a discarded object, then frees its slot. In that order, so that at most capacity_
  // objects exist even while the destructor runs; and outside mutex_, so that a slow destructor
  // does not block the pool.
  void discard_object(std::unique_ptr<T> object) noexcept ABSL_LOCKS_EXCLUDED(mutex_) {
    object.reset();
    mutex_lock lock(mutex_);
    --created_;  // unlocking wakes a waiter, which may now create in this slot
  }

  const std::size_t capacity_;

  // Lock order: factory_mutex_ before mutex_ (the pool itself never holds both).
  mutex factory_mutex_;
  factory_type factory_ ABSL_GUARDED_BY(factory_mutex_);

  mutable mutex mutex_;
  // Objects ready to lend. idle_.capacity() >= created_ + creating_ at all times (see
  // reserve_idle_room()), so returning an object never allocates.
  std::vector<std::unique_ptr<T>> idle_ ABSL_GUARDED_BY(mutex_);
  std::size_t created_ ABSL_GUARDED_BY(mutex_) = 0;   // objects that exist: idle or leased
  std::size_t creating_ ABSL_GUARDED_BY(mutex_) = 0;  // slots reserved for running factory calls
  std::size_t waiting_ ABSL_GUARDED_BY(mutex_) = 0;   // threads inside acquire_impl()'s wait
};

// modref::object_pool<T>::lease
// Move-only handle to one object borrowed from a pool. Ending the lease (destruction, reset(),
// move-assigning over it) returns the object to the pool and wakes a waiting acquirer.
//
// Contract:
//   - A lease from a pool holds an object; a default-constructed or moved-from one is empty.
//   - operator* and operator-> require a non-empty lease (GSL Expects); get() returns nullptr
//     when empty.
//   - The lease must end before its pool is destroyed.
template <class T>
class object_pool<T>::lease {
 public:
  // object_pool::lease::lease()
  // An empty lease, holding nothing.
  lease() noexcept = default;

  lease(lease&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)), object_(std::move(other.object_)) {}

  // object_pool::lease::operator=(lease&&)
  // Returns the object this lease holds, if any, then takes over `other`'s.
  lease& operator=(lease&& other) noexcept {
    if (this != &other) {
      reset();
      pool_ = std::exchange(other.pool_, nullptr);
      object_ = std::move(other.object_);
    }
    return *this;
  }

  lease(const lease&) = delete;  // one borrowed object, one borrower
  lease& operator=(const lease&) = delete;

  // Returns the object to the pool.
  ~lease() { reset(); }

  // object_pool::lease::get()
  // The borrowed object, or nullptr for an empty lease.
  T* get() const noexcept { return object_.get(); }
  T& operator*() const noexcept {
    Expects(object_ != nullptr);
    return *object_;
  }
  T* operator->() const noexcept {
    Expects(object_ != nullptr);
    return object_.get();
  }
  explicit operator bool() const noexcept { return object_ != nullptr; }

  // object_pool::lease::reset()
  // Returns the object to the pool now and leaves the lease empty. Does nothing on an empty lease.
  void reset() noexcept {
    if (object_ != nullptr) pool_->give_back(std::move(object_));
    pool_ = nullptr;
  }

  // object_pool::lease::discard()
  // Destroys the object instead of returning it (it is broken: a failed connection, a hasher in
  // an error state) and frees its slot, so a later acquire creates a fresh one. Leaves the lease
  // empty. Precondition (GSL Expects): the lease is not empty.
  void discard() noexcept {
    Expects(object_ != nullptr);
    std::exchange(pool_, nullptr)->discard_object(std::move(object_));
  }

 private:
  friend class object_pool;
  lease(object_pool* pool, std::unique_ptr<T> object) noexcept
      : pool_(pool), object_(std::move(object)) {}

  object_pool* pool_ = nullptr;
  std::unique_ptr<T> object_;
};

}  // namespace modref

#endif  // MODREF_OBJECT_POOL_H_
