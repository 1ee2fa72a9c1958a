// Tests for <modref/refcount.h>: every operation of ref_counted, ref_ptr and make_ref, the
// concurrency contract (destroyed exactly once, by the last release) and the fail-fast checks.
#include <modref/refcount.h>

#include <atomic>
#include <memory>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

namespace {

struct tracked : modref::ref_counted<tracked> {
  explicit tracked(std::atomic<int>* destroyed) : destroyed_(destroyed) {}
  // Virtual so that derived_tracked may be created with make_ref and destroyed as itself.
  virtual ~tracked() { destroyed_->fetch_add(1); }
  int value = 0;

 private:
  std::atomic<int>* destroyed_;
};

struct derived_tracked : tracked {
  explicit derived_tracked(std::atomic<int>* destroyed) : tracked(destroyed), own_(destroyed) {}
  ~derived_tracked() override { own_->fetch_add(100); }

 private:
  std::atomic<int>* own_;
};

struct local_only : modref::ref_counted<local_only, modref::single_thread_count> {
  int value = 7;
};

TEST(RefCounted, MakeRefStartsAtOne) {
  std::atomic<int> destroyed{0};
  auto p = modref::make_ref<tracked>(&destroyed);
  EXPECT_EQ(p->use_count(), 1u);
  EXPECT_EQ(destroyed.load(), 0);
  p.reset();
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(RefCounted, AddRefAndReleaseBalance) {
  std::atomic<int> destroyed{0};
  auto p = modref::make_ref<tracked>(&destroyed);
  p->add_ref();
  EXPECT_EQ(p->use_count(), 2u);
  EXPECT_FALSE(p->release());
  EXPECT_EQ(p->use_count(), 1u);
  tracked* raw = p.detach();
  EXPECT_TRUE(raw->release());
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(RefCounted, CopyingAnObjectDoesNotCopyItsCount) {
  std::atomic<int> destroyed{0};
  auto p = modref::make_ref<tracked>(&destroyed);
  auto q = p;
  ASSERT_EQ(p->use_count(), 2u);
  tracked copy(*p);  // a new object with a count of its own
  EXPECT_EQ(copy.use_count(), 1u);
  copy = *p;
  EXPECT_EQ(copy.use_count(), 1u);
  EXPECT_EQ(p->use_count(), 2u);
}

TEST(RefCounted, DestructorIsNotPublic) {
  // Objects are destroyed by release(), never directly.
  EXPECT_FALSE((std::is_destructible_v<modref::ref_counted<tracked>>));
}

TEST(RefPtr, DefaultAndNullAreEmpty) {
  modref::ref_ptr<tracked> a;
  modref::ref_ptr<tracked> b = nullptr;
  EXPECT_FALSE(a);
  EXPECT_EQ(a, nullptr);
  EXPECT_EQ(a.get(), nullptr);
  EXPECT_EQ(a, b);
}

TEST(RefPtr, CopyAddsAReferenceMoveSteals) {
  std::atomic<int> destroyed{0};
  auto a = modref::make_ref<tracked>(&destroyed);
  auto b = a;
  EXPECT_EQ(a->use_count(), 2u);
  auto c = std::move(b);
  EXPECT_FALSE(b);  // NOLINT: testing moved-from state
  EXPECT_EQ(c->use_count(), 2u);
  modref::ref_ptr<tracked> d;
  d = c;
  EXPECT_EQ(a->use_count(), 3u);
  d = std::move(c);
  EXPECT_EQ(a->use_count(), 2u);
  d = nullptr;
  EXPECT_EQ(a->use_count(), 1u);
  EXPECT_EQ(destroyed.load(), 0);
}

TEST(RefPtr, SelfAssignmentKeepsTheObject) {
  std::atomic<int> destroyed{0};
  auto a = modref::make_ref<tracked>(&destroyed);
  auto& alias = a;
  a = alias;
  EXPECT_EQ(a->use_count(), 1u);
  a = std::move(alias);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->use_count(), 1u);
  EXPECT_EQ(destroyed.load(), 0);
}

TEST(RefPtr, RawConstructorAddsAReference) {
  std::atomic<int> destroyed{0};
  auto a = modref::make_ref<tracked>(&destroyed);
  modref::ref_ptr<tracked> b(a.get());
  EXPECT_EQ(a->use_count(), 2u);
}

TEST(RefPtr, DetachAndAdoptCarryOneReferenceAcrossVoidPointer) {
  std::atomic<int> destroyed{0};
  void* crossing = nullptr;
  {
    auto a = modref::make_ref<tracked>(&destroyed);
    modref::ref_ptr<tracked> for_worker = a;
    crossing = for_worker.detach();
    EXPECT_FALSE(for_worker);
    EXPECT_EQ(a->use_count(), 2u);
  }
  EXPECT_EQ(destroyed.load(), 0);
  {
    modref::ref_ptr<tracked> adopted(static_cast<tracked*>(crossing), modref::adopt_ref);
    EXPECT_EQ(adopted->use_count(), 1u);
  }
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(RefPtr, ResetVariants) {
  std::atomic<int> destroyed{0};
  auto a = modref::make_ref<tracked>(&destroyed);
  auto b = modref::make_ref<tracked>(&destroyed);
  modref::ref_ptr<tracked> p = a;
  p.reset(b.get());
  EXPECT_EQ(a->use_count(), 1u);
  EXPECT_EQ(b->use_count(), 2u);
  b->add_ref();
  p.reset(b.get(), modref::adopt_ref);  // drops the old reference, adopts the added one
  EXPECT_EQ(b->use_count(), 2u);
  p.reset();
  EXPECT_EQ(b->use_count(), 1u);
  EXPECT_EQ(destroyed.load(), 0);
}

TEST(RefPtr, SwapAndComparisons) {
  std::atomic<int> destroyed{0};
  auto a = modref::make_ref<tracked>(&destroyed);
  auto b = modref::make_ref<tracked>(&destroyed);
  tracked* ra = a.get();
  tracked* rb = b.get();
  swap(a, b);
  EXPECT_EQ(a.get(), rb);
  EXPECT_EQ(b.get(), ra);
  EXPECT_NE(a, b);
  EXPECT_EQ((a <=> b), (std::compare_three_way{}(rb, ra)));
  std::unordered_set<modref::ref_ptr<tracked>> set{a, b, a};
  EXPECT_EQ(set.size(), 2u);
}

TEST(RefPtr, ConvertsToBase) {
  std::atomic<int> destroyed{0};
  auto d = modref::make_ref<derived_tracked>(&destroyed);
  modref::ref_ptr<tracked> base = d;
  EXPECT_EQ(d->use_count(), 2u);
  modref::ref_ptr<tracked> moved = std::move(d);
  EXPECT_EQ(moved->use_count(), 2u);
  EXPECT_EQ(base, moved);
  base.reset();
  moved.reset();
  EXPECT_EQ(destroyed.load(), 101);  // both destructors ran: destroyed as the derived type
}

TEST(RefPtr, CtadFromRawPointer) {
  std::atomic<int> destroyed{0};
  auto a = modref::make_ref<tracked>(&destroyed);
  modref::ref_ptr b(a.get());
  static_assert(std::is_same_v<decltype(b), modref::ref_ptr<tracked>>);
  EXPECT_EQ(a->use_count(), 2u);
}

TEST(SingleThreadCount, SameContractWithoutAtomics) {
  auto p = modref::make_ref<local_only>();
  auto q = p;
  EXPECT_EQ(p->use_count(), 2u);
  q.reset();
  EXPECT_EQ(p->use_count(), 1u);
  EXPECT_EQ(p->value, 7);
}

TEST(TypeName, NamesTheType) {
  EXPECT_NE(modref::detail::type_name<tracked>().find("tracked"), std::string_view::npos);
}

// N threads copy and drop references to one object; it must be destroyed exactly once, and only
// after the last reference is gone. Each thread writes its own slot before dropping its last
// reference and the destructor reads every slot: under TSan this checks that release() orders
// those writes before the destructor (the acq_rel decrement).
struct slotted : modref::ref_counted<slotted> {
  static constexpr int kSlots = 8;
  slotted(std::atomic<int>* destroyed, std::atomic<int>* sum) : destroyed_(destroyed), sum_(sum) {}
  ~slotted() {
    int total = 0;
    for (int v : slots) total += v;
    sum_->store(total);
    destroyed_->fetch_add(1);
  }
  int slots[kSlots] = {};

 private:
  std::atomic<int>* destroyed_;
  std::atomic<int>* sum_;
};

TEST(RefPtrConcurrency, DestroyedExactlyOnceByTheLastRelease) {
  constexpr int kThreads = slotted::kSlots;
  constexpr int kIterations = 20000;
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> destroyed{0};
    std::atomic<int> sum{0};
    std::atomic<int> ready{0};
    auto shared = modref::make_ref<slotted>(&destroyed, &sum);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([mine = shared, t, &ready]() mutable {
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        for (int i = 0; i < kIterations; ++i) {
          modref::ref_ptr<slotted> copy = mine;
          modref::ref_ptr<slotted> again(copy.get());
        }
        mine->slots[t] = t + 1;
        mine.reset();
      });
    }
    shared.reset();  // the creator's reference goes first; the threads keep the object alive
    for (auto& t : threads) t.join();
    EXPECT_EQ(destroyed.load(), 1) << "round " << round;
    EXPECT_EQ(sum.load(), kThreads * (kThreads + 1) / 2) << "round " << round;
  }
}

using RefCountDeathTest = ::testing::Test;

TEST(RefCountDeathTest, UnderflowFailsFastNamingTheType) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::atomic<int> destroyed{0};
        auto p = modref::make_ref<tracked>(&destroyed);
        // A count that already reached zero (as after one release too many that was caught by
        // nothing else); releasing again must not wrap to four billion.
        modref::ref_counted_test_access<tracked>::set_count(*p, 0);
        p->release();
      },
      "reference count underflow.*tracked");
}

TEST(RefCountDeathTest, AddRefOnDeadObjectFailsFast) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto p = modref::make_ref<local_only>();
        modref::ref_counted_test_access<local_only>::set_count(*p, 0);
        p->add_ref();
      },
      "increment from zero.*local_only");
}

TEST(RefCountDeathTest, OverflowFailsFastNamingTheType) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::atomic<int> destroyed{0};
        auto p = modref::make_ref<tracked>(&destroyed);
        modref::ref_counted_test_access<tracked>::set_count(*p, modref::atomic_count::max_count);
        p->add_ref();
      },
      "reference count overflow.*tracked");
}

TEST(RefCountLimits, OneBelowTheLimitIsAccepted) {
  std::atomic<int> destroyed{0};
  auto p = modref::make_ref<tracked>(&destroyed);
  modref::ref_counted_test_access<tracked>::set_count(*p, modref::atomic_count::max_count - 1);
  p->add_ref();
  EXPECT_EQ(p->use_count(), modref::atomic_count::max_count);
  modref::ref_counted_test_access<tracked>::set_count(*p, 1);
}

}  // namespace
