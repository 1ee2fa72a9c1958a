// object_pool.exe — seed 002's hashing race, and the object pool that fixes it.
//
// Seed 002's C# program started N threads that all hashed "abc" with one shared hasher, and now
// and then printed a wrong hash: "+MHYcAb79+XMSwJsMTi8BGiD3HE=", which is the SHA-1 of "abcabc"
// (two threads' data mixed in one running hash), and "AAAAAAAAAAAAAAAAAAAAAAAAAAA=". The two
// obvious fixes are both poor: a hasher per call pays for creating one every time, and one hasher
// behind a lock serialises every thread. The seed's answer is a pool: a few hashers, each lent to
// one thread at a time.
//
// This program
//   1. replays the seed's failure deterministically: two "threads'" calls on one shared hasher,
//      interleaved by hand on a single thread, so that the interleaving is the same every run;
//   2. runs 8 modref::threads that hash 40 messages each through a modref::object_pool of at most
//      3 hashers, and checks that every hash is right and that no more than 3 hashers were made.
#include <windows.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <modref/object_pool.h>
#include <modref/thread.h>

#include "example_support.h"
#include "sha1_hasher.h"

namespace {

constexpr const char* kName = "object_pool";
constexpr int kThreads = 8;
constexpr std::size_t kHashers = 3;
constexpr int kMessagesPerThread = 40;

// A borrower waits at most this long for a hasher. Each lease lasts a few milliseconds at most;
// the bound only turns a lost hasher (a bug) into an error instead of a hang.
constexpr absl::Duration kAcquireBound = absl::Seconds(30);
// The threads wait at most this long at the start line; main() opens it once all are created.
constexpr DWORD kStartBoundMs = 30'000;

// Messages with their well-known SHA-1 digests, in Base64 as seed 002 printed them.
struct test_vector {
  std::string_view text;
  std::string_view sha1_base64;
};
constexpr test_vector kVectors[] = {
    {"abc", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="},
    {"", "2jmj7l5rSw0yVb/vlWAYkK/YBwk="},
    {"The quick brown fox jumps over the lazy dog", "L9ThxnotKPzthJ7hu3bnORuT6xI="},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "hJg+RBw70m66rkqh+VEp5eVGcPE="},
};

std::string base64(std::span<const std::uint8_t> bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 3; ++j) group = (group << 8) | (j < n ? bytes[i + j] : 0u);
    for (std::size_t j = 0; j < 4; ++j) {
      out += j <= n ? kAlphabet[(group >> (18 - 6 * j)) & 0x3F] : '=';
    }
  }
  return out;
}

// Hashes one message with `hasher`; an error comes back as "error: ...".
std::string hash_base64(sha1_hasher& hasher, std::string_view text) {
  if (absl::Status status = hasher.update(text); !status.ok()) return "error: " + status.ToString();
  absl::StatusOr<sha1_hasher::digest> digest = hasher.finish();
  if (!digest.ok()) return "error: " + digest.status().ToString();
  return base64(*digest);
}

// 1. The seed's failure, replayed in a fixed order on one thread.
void replay_shared_hasher_race() {
  std::printf(
      "-- 1. one shared hasher, two threads' calls interleaved (replayed in a fixed order)\n");
  absl::StatusOr<std::unique_ptr<sha1_hasher>> shared = sha1_hasher::open();
  if (!example::check(shared.ok(), "opened a SHA-1 hasher")) return;
  sha1_hasher& hasher = **shared;
  // Thread #3 and thread #4 each hash "abc" with the same object:
  (void)hasher.update("abc");  // #3: update("abc")
  (void)hasher.update("abc");  // #4: update("abc") into #3's running hash
  absl::StatusOr<sha1_hasher::digest> third = hasher.finish();   // #3 finishes: "abcabc"
  absl::StatusOr<sha1_hasher::digest> fourth = hasher.finish();  // #4 finishes: nothing left
  if (!example::check(third.ok() && fourth.ok(), "both finished")) return;
  std::printf("Thread #3 done processing. Hash value was %s\n", base64(*third).c_str());
  std::printf("Thread #4 done processing. Hash value was %s\n", base64(*fourth).c_str());
  example::check(base64(*third) == "+MHYcAb79+XMSwJsMTi8BGiD3HE=",
                 "thread #3 got SHA-1(\"abcabc\"), seed 002's wrong output: the data was mixed");
  example::check(base64(*fourth) != kVectors[0].sha1_base64,
                 "thread #4 got a wrong hash too (the hash of nothing)");
}

// 2. The pool.
void hash_with_pool() {
  std::printf("-- 2. %d modref::threads, %d messages each, through an object_pool of %zu hashers\n",
              kThreads, kMessagesPerThread, kHashers);
  // At most kHashers hashers, each created by sha1_hasher::open() the first time no idle one is
  // left. The pool must outlive every lease: it is declared before the threads, which are joined
  // below.
  modref::object_pool<sha1_hasher> hashers(kHashers, &sha1_hasher::open);
  std::atomic<int> wrong{0};

  // The short messages hash in microseconds; the SHA-1 standard's "one million 'a'" message takes
  // milliseconds, long enough for the threads to really compete for the hashers.
  const std::string million_a(1'000'000, 'a');
  const std::array<test_vector, 5> messages = {
      kVectors[0], kVectors[1], kVectors[2], kVectors[3],
      test_vector{million_a, "NKqXPNTE2qT2Husr260nMWU0AW8="}};

  // The threads start hashing together, so that they compete for the hashers. (Without this,
  // each thread might be done before the next one has even started.)
  example::event start_line;

  const auto worker = [&hashers, &wrong, &start_line, &messages](int index) {
    start_line.wait(kStartBoundMs);
    std::string abc_hash;
    for (int i = 0; i < kMessagesPerThread; ++i) {
      const test_vector& message = messages[static_cast<std::size_t>(index + i) % messages.size()];
      absl::StatusOr<modref::object_pool<sha1_hasher>::lease> lease =
          hashers.acquire_for(kAcquireBound);
      if (!lease.ok()) {
        std::printf("  acquire failed: %s\n", lease.status().ToString().c_str());
        wrong.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      // While the lease lives, this hasher is ours alone: no lock needed around update/finish.
      const std::string hash = hash_base64(**lease, message.text);
      if (hash != message.sha1_base64) wrong.fetch_add(1, std::memory_order_relaxed);
      if (message.text == "abc") abc_hash = hash;
    }  // each lease ends at the end of its iteration: the hasher goes back to the pool
    std::printf("Thread #%lu done processing. Hash value was %s\n", ::GetCurrentThreadId(),
                abc_hash.c_str());
  };

  std::vector<modref::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  start_line.set();
  for (modref::thread& thread : threads) thread.join();

  const std::string all_right =
      "every one of the " + std::to_string(kThreads * kMessagesPerThread) + " hashes was right";
  example::check(wrong.load(std::memory_order_relaxed) == 0, all_right.c_str());
  std::printf("[main] hashers created: %zu (capacity %zu), idle now: %zu\n", hashers.created(),
              hashers.capacity(), hashers.idle());
  example::check(hashers.created() >= 1 && hashers.created() <= kHashers,
                 "8 threads shared at most 3 hashers");
  example::check(hashers.idle() == hashers.created(), "every hasher was given back");
}

}  // namespace

int wmain() {
  example::unbuffered_output();
  std::printf("%s: seed 002's non-thread-safe hasher, shared (wrong) and pooled (right)\n", kName);
  replay_shared_hasher_race();
  hash_with_pool();
  return example::finish(kName);
}
