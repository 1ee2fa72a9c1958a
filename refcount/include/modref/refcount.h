// <modref/refcount.h> — intrusive reference counting for state shared across threads.
//
// An object that derives from modref::ref_counted<T> carries its own reference count, so a raw
// pointer to it can cross an API that only takes a `void*` (CreateThread's LPVOID, a thread-pool
// context) together with one reference, and be adopted again on the other side. modref::ref_ptr<T>
// owns one reference; modref::make_ref<T>() allocates an object with a count of one.
//
// The count is hardened: a release that would take it below zero, an add_ref on an object whose
// count already reached zero, and an add_ref that would wrap the counter each end the process at
// once with a message naming the type. A wrapped or negative count is a use-after-free waiting to
// happen; failing at the faulty call is cheaper to debug than the corruption that follows.
//
// Example: hand a context to a thread without freeing it under the thread's feet.
//
//   struct job_context : modref::ref_counted<job_context> {
//     std::string message;
//   };
//
//   DWORD WINAPI worker(void* raw) {
//     // Adopt the reference the creator added for us; it is dropped when `ctx` goes away.
//     modref::ref_ptr<job_context> ctx(static_cast<job_context*>(raw), modref::adopt_ref);
//     std::puts(ctx->message.c_str());
//     return 0;
//   }
//
//   bool start(std::string message) {
//     auto ctx = modref::make_ref<job_context>();
//     ctx->message = std::move(message);
//     modref::ref_ptr<job_context> for_worker = ctx;     // the worker's reference, added first
//     HANDLE h = CreateThread(nullptr, 0, worker, for_worker.get(), 0, nullptr);
//     if (h == nullptr) return false;                   // for_worker gives its reference back
//     (void)for_worker.detach();                          // now owned by the worker
//     CloseHandle(h);
//     return true;                                      // ctx drops the creator's reference
//   }
//
// (modref::thread in <modref/thread.h> does all of this, plus module pinning, for you.)
//
// Lifetime
//   - An object is destroyed by the release() that takes its count from one to zero, on whichever
//     thread that happens. ref_counted's destructor is protected and non-virtual: objects are
//     destroyed as the most-derived type T through `delete static_cast<T*>(this)`.
//   - Copying or assigning a ref_counted object does not copy its count: the copy is a new object
//     that starts with a count of one, like every new object.
//
// Thread safety / memory ordering (atomic_count, the default policy)
//   - add_ref(): relaxed fetch_add. Taking a new reference needs an existing one, and that existing
//     reference already orders everything before it.
//   - release(): acq_rel fetch_sub. Release makes this thread's writes to the object visible to the
//     thread that drops the last reference; acquire on that last decrement makes them visible to
//     the destructor. (A release decrement plus an acquire fence would do on hardware, but
//     ThreadSanitizer does not model standalone fences, so acq_rel keeps TSan builds exact.)
//   - use_count(): relaxed load; a diagnostic snapshot, never a synchronisation point.
//   - single_thread_count is a plain integer for objects that never cross threads; it keeps the
//     same overflow and underflow checks.
#ifndef MODREF_REFCOUNT_H_
#define MODREF_REFCOUNT_H_

#include <atomic>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>

namespace modref {

// modref::adopt_ref_t / modref::adopt_ref
// Tag for ref_ptr's adopting constructor: the pointer already carries a reference for us.
struct adopt_ref_t {
  explicit adopt_ref_t() = default;
};
inline constexpr adopt_ref_t adopt_ref{};

namespace detail {

// detail::type_name<T>() returns a readable name of T without RTTI, for fail-fast messages.
template <class T>
constexpr std::string_view type_name() {
#if defined(_MSC_VER) && !defined(__clang__)
  std::string_view name = __FUNCSIG__;
  constexpr std::string_view prefix = "type_name<";
  constexpr std::string_view suffix = ">(void)";
#else
  std::string_view name = __PRETTY_FUNCTION__;
  constexpr std::string_view prefix = "T = ";
  constexpr std::string_view suffix = "]";
#endif
  const auto begin = name.find(prefix);
  if (begin == std::string_view::npos) return name;
  name.remove_prefix(begin + prefix.size());
  const auto end = name.rfind(suffix);
  if (end != std::string_view::npos) name = name.substr(0, end);
  // GCC and Clang append "; std::string_view = ..." for the return type alias.
  if (const auto semi = name.find(';'); semi != std::string_view::npos) name = name.substr(0, semi);
  return name;
}

// detail::refcount_failure() writes one line to stderr and aborts. It allocates nothing: it may
// run while the heap is corrupt.
[[noreturn]] inline void refcount_failure(std::string_view type, const char* what) noexcept {
  std::fprintf(stderr, "modref: reference count %s on object of type %.*s; aborting\n", what,
               static_cast<int>(type.size()), type.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace detail

// modref::atomic_count
// The default counting policy: a 32-bit atomic counter, safe to share across threads.
struct atomic_count {
  using value_type = std::uint32_t;
  // Counts at or above this value are treated as overflow: it leaves headroom so that racing
  // add_ref calls cannot wrap the counter before one of them reports the overflow.
  static constexpr value_type max_count = (std::numeric_limits<value_type>::max)() / 2;

  explicit atomic_count(value_type initial) noexcept : value_(initial) {}

  // Returns the count before the increment. Relaxed: see the header comment.
  value_type increment() noexcept { return value_.fetch_add(1, std::memory_order_relaxed); }
  // Returns the count before the decrement. acq_rel: see the header comment.
  value_type decrement() noexcept { return value_.fetch_sub(1, std::memory_order_acq_rel); }
  // Relaxed snapshot for diagnostics.
  value_type load() const noexcept { return value_.load(std::memory_order_relaxed); }
  // Test seam: sets the raw value (relaxed). Only for tests that probe the overflow limit.
  void store_for_testing(value_type v) noexcept { value_.store(v, std::memory_order_relaxed); }

 private:
  std::atomic<value_type> value_;
};

// modref::single_thread_count
// A non-atomic counting policy for objects that never leave one thread. Same checks, no lock
// prefix; sharing such an object across threads is a data race (TSan reports it).
struct single_thread_count {
  using value_type = std::uint32_t;
  static constexpr value_type max_count = (std::numeric_limits<value_type>::max)() / 2;

  explicit single_thread_count(value_type initial) noexcept : value_(initial) {}
  value_type increment() noexcept { return value_++; }
  value_type decrement() noexcept { return value_--; }
  value_type load() const noexcept { return value_; }
  void store_for_testing(value_type v) noexcept { value_ = v; }

 private:
  value_type value_;
};

template <class T>
class ref_ptr;

// modref::ref_counted<Derived, CountPolicy>
// CRTP base that gives Derived an intrusive reference count.
//
// Contract:
//   - Derived objects are created with make_ref<Derived>() (count one) or with `new` and adopted;
//     never on the stack or as a member while references are handed out.
//   - add_ref() on an object whose count is zero fails fast (the object is already dead), as does
//     exceeding CountPolicy::max_count references. An object made with `new` and handed to the
//     adding ref_ptr(T*) constructor instead of ref_ptr(T*, adopt_ref) is not caught: it leaks.
//   - release() that would go below zero fails fast.
template <class Derived, class CountPolicy = atomic_count>
class ref_counted {
 public:
  using count_policy = CountPolicy;

  // ref_counted::add_ref()
  // Adds one reference. Fails fast on a dead object or on overflow.
  void add_ref() const noexcept {
    const auto before = count_.increment();
    if (before == 0) [[unlikely]] {
      detail::refcount_failure(detail::type_name<Derived>(),
                               "increment from zero (object already dead)");
    }
    if (before >= CountPolicy::max_count) [[unlikely]] {
      detail::refcount_failure(detail::type_name<Derived>(), "overflow");
    }
  }

  // ref_counted::release()
  // Drops one reference and destroys the object when it was the last. Returns true when this call
  // destroyed the object. Fails fast on underflow.
  bool release() const noexcept {
    const auto before = count_.decrement();
    if (before == 1) {
      delete static_cast<const Derived*>(this);
      return true;
    }
    if (before == 0) [[unlikely]] {
      detail::refcount_failure(detail::type_name<Derived>(),
                               "underflow (released more often than referenced)");
    }
    return false;
  }

  // ref_counted::use_count()
  // The current count. Diagnostic only: it may change before the caller looks at it.
  typename CountPolicy::value_type use_count() const noexcept { return count_.load(); }

 protected:
  // A new object starts with a count of one: the reference that make_ref (or the code that called
  // `new`) hands to its first ref_ptr through adopt_ref.
  ref_counted() noexcept : count_(1) {}
  // Copies are new objects with a count of their own; the count is never copied.
  ref_counted(const ref_counted&) noexcept : count_(1) {}
  ref_counted& operator=(const ref_counted&) noexcept { return *this; }
  ~ref_counted() = default;

 private:
  template <class>
  friend struct ref_counted_test_access;

  mutable CountPolicy count_;
};

// modref::ref_counted_test_access<T>
// Test seam that lets a test move a count next to its limit without four billion add_ref calls.
template <class T>
struct ref_counted_test_access {
  static void set_count(const T& object, typename T::count_policy::value_type value) noexcept {
    object.count_.store_for_testing(value);
  }
};

// modref::ref_ptr<T>
// Owns one reference to a T that derives from ref_counted. Copy adds a reference, move steals it.
//
// Contract:
//   - ref_ptr(T*) adds a reference to an object that already has one (count >= 1).
//   - ref_ptr(T*, adopt_ref) takes over a reference the pointer already carries.
//   - detach() returns the pointer together with its reference; the caller must hand that
//     reference back to a ref_ptr (adopt_ref) or call release() exactly once.
template <class T>
class ref_ptr {
 public:
  using element_type = T;

  constexpr ref_ptr() noexcept = default;
  constexpr ref_ptr(std::nullptr_t) noexcept {}  // NOLINT: implicit like std::shared_ptr
  // Adds a reference to `p` (which may be null).
  explicit ref_ptr(T* p) noexcept : ptr_(p) {
    if (ptr_ != nullptr) ptr_->add_ref();
  }
  // Adopts the reference `p` already carries.
  ref_ptr(T* p, adopt_ref_t) noexcept : ptr_(p) {}

  ref_ptr(const ref_ptr& other) noexcept : ref_ptr(other.ptr_) {}
  ref_ptr(ref_ptr&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
  template <class U>
  requires std::convertible_to<U*, T*> ref_ptr(const ref_ptr<U>& other)
  noexcept : ref_ptr(static_cast<T*>(other.get())) {}
  template <class U>
  requires std::convertible_to<U*, T*> ref_ptr(ref_ptr<U>&& other)
  noexcept : ptr_(other.detach()) {}

  ~ref_ptr() {
    if (ptr_ != nullptr) ptr_->release();
  }

  ref_ptr& operator=(const ref_ptr& other) noexcept {
    ref_ptr(other).swap(*this);
    return *this;
  }
  ref_ptr& operator=(ref_ptr&& other) noexcept {
    ref_ptr(std::move(other)).swap(*this);
    return *this;
  }
  ref_ptr& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }

  // ref_ptr::get()
  // The pointer, without touching the count.
  T* get() const noexcept { return ptr_; }
  T& operator*() const noexcept { return *ptr_; }
  T* operator->() const noexcept { return ptr_; }
  explicit operator bool() const noexcept { return ptr_ != nullptr; }

  // ref_ptr::reset()
  // Drops the reference held (if any) and becomes empty.
  void reset() noexcept { ref_ptr().swap(*this); }
  // ref_ptr::reset(p)
  // Drops the reference held and takes a new reference to `p`.
  void reset(T* p) noexcept { ref_ptr(p).swap(*this); }
  // ref_ptr::reset(p, adopt_ref)
  // Drops the reference held and adopts the one `p` carries.
  void reset(T* p, adopt_ref_t) noexcept { ref_ptr(p, adopt_ref).swap(*this); }

  // ref_ptr::detach()
  // Gives up ownership without releasing: returns the pointer together with its reference.
  // This is how a reference crosses a `void*` boundary such as CreateThread's parameter.
  [[nodiscard]] T* detach() noexcept { return std::exchange(ptr_, nullptr); }

  void swap(ref_ptr& other) noexcept { std::swap(ptr_, other.ptr_); }
  friend void swap(ref_ptr& a, ref_ptr& b) noexcept { a.swap(b); }

  template <class U>
  friend bool operator==(const ref_ptr& a, const ref_ptr<U>& b) noexcept {
    return a.get() == b.get();
  }
  friend bool operator==(const ref_ptr& a, std::nullptr_t) noexcept { return a.get() == nullptr; }
  template <class U>
  friend std::strong_ordering operator<=>(const ref_ptr& a, const ref_ptr<U>& b) noexcept {
    return std::compare_three_way{}(a.get(), b.get());
  }

 private:
  T* ptr_ = nullptr;
};

template <class T>
ref_ptr(T*) -> ref_ptr<T>;

// modref::make_ref<T>(args...)
// Allocates a T once, with a count of one owned by the returned ref_ptr.
template <class T, class... Args>
[[nodiscard]] ref_ptr<T> make_ref(Args&&... args) {
  static_assert(std::is_base_of_v<ref_counted<T, typename T::count_policy>, T> ||
                    std::has_virtual_destructor_v<T>,
                "make_ref<T>: T must derive from modref::ref_counted<T> (CRTP: name T itself), or "
                "derive from a ref_counted class whose destructor is virtual");
  return ref_ptr<T>(new T(std::forward<Args>(args)...), adopt_ref);
}

}  // namespace modref

template <class T>
struct std::hash<modref::ref_ptr<T>> {
  std::size_t operator()(const modref::ref_ptr<T>& p) const noexcept {
    return std::hash<T*>{}(p.get());
  }
};

#endif  // MODREF_REFCOUNT_H_
