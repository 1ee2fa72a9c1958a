// The package consumers' portable program: modref::refcount and modref::object_pool used the way a
// user's code would use them, from modref found with find_package or added with add_subdirectory.
// Exit code 0 on success; otherwise 1 and a line on stderr naming the failed check.
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <modref/object_pool.h>
#include <modref/refcount.h>

namespace {

// Shared, immutable state handed to every worker with one reference each.
struct settings : modref::ref_counted<settings> {
  explicit settings(std::string n) : name(std::move(n)) {}
  std::string name;
};

// An object that is expensive to create and not safe to share: borrowed from a pool.
struct scratch {
  std::string buffer;
};

int fail(const char* what) {
  std::fprintf(stderr, "FAILED: %s\n", what);
  return 1;
}

}  // namespace

int main() {
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  modref::ref_ptr<settings> config = modref::make_ref<settings>("consumer");
  modref::object_pool<scratch> pool(2);  // two objects serve four threads
  std::atomic<int> failures{0};

  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&pool, &failures, config] {  // `config`: one more reference each
      for (int i = 0; i < kRounds; ++i) {
        auto lease = pool.acquire();
        if (!lease.ok()) {
          failures.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        scratch& s = **lease;  // ours alone until the lease ends
        s.buffer = config->name;
        if (s.buffer != "consumer") failures.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& w : workers) w.join();

  if (failures.load() != 0) return fail("a borrower could not acquire or saw another's object");
  if (pool.created() > pool.capacity()) return fail("the pool created more objects than capacity");
  if (config->use_count() != 1) return fail("the workers' references were not all released");
  std::printf("ok: %d threads shared %zu pooled object(s) and one refcounted settings object\n",
              kThreads, pool.created());
  return 0;
}
