// worst_case_schedule.h — forces the thread schedule under which seed 002's program breaks.
//
// main_hr() starts worker threads, does not wait for them, and returns. The program is wrong only
// if a worker reads its parameters after main_hr() has returned; on a real machine that happens now
// and then ("if you run it often enough, some lines come out as garbage"). Here every worker waits
// at a gate that main() opens only after main_hr() has returned, so the unlucky schedule happens
// on every run.
//
// before.cc and after.cc use this header in exactly the same way: the only difference between the
// two programs is who owns the parameters. Nothing here is needed in real code.
#ifndef MODREF_EXAMPLES_WRAP_CREATETHREAD_WORST_CASE_SCHEDULE_H_
#define MODREF_EXAMPLES_WRAP_CREATETHREAD_WORST_CASE_SCHEDULE_H_

#include <windows.h>

#include <atomic>
#include <cstdio>
#include <cwchar>
#include <string>
#include <string_view>

#include "example_support.h"

namespace wrap_createthread {

inline constexpr int kWorkers = 4;
inline constexpr std::wstring_view kMessage = L"Hello World!";

// A worker waits at the gate at most this long, and main() waits as long for the workers: far
// beyond the milliseconds they need, so only a broken build ever reaches the bound.
inline constexpr DWORD kBoundMs = 30'000;

class worst_case_schedule {
 public:
  // worst_case_schedule::begin(workers)
  // Starts a new run for `workers` workers: gate closed, nobody finished.
  void begin(int workers) {
    ::ResetEvent(gate_.get());
    ::ResetEvent(all_finished_.get());
    remaining_.store(workers, std::memory_order_relaxed);
    wrong_.store(0, std::memory_order_relaxed);
  }

  // worst_case_schedule::wait_at_gate()
  // Called by each worker before it touches its parameters.
  void wait_at_gate() const { gate_.wait(kBoundMs); }

  // worst_case_schedule::open_gate()
  // Called by main() once main_hr() has returned.
  void open_gate() const { gate_.set(); }

  // worst_case_schedule::report(message)
  // Prints what a worker read (as seed 002 did) and counts messages that are not kMessage.
  // `message` is read up to its terminator, but never past `capacity` characters: in before.cc it
  // may be anything.
  void report(const wchar_t* message, std::size_t capacity) {
    const std::wstring_view seen(message, ::wcsnlen(message, capacity));
    std::string printable;
    for (const wchar_t c : seen) printable += (c >= 0x20 && c < 0x7F) ? static_cast<char>(c) : '?';
    std::printf("[worker %5lu] Test message... %s\n", ::GetCurrentThreadId(), printable.c_str());
    if (seen != kMessage)
      wrong_.fetch_add(1, std::memory_order_relaxed);  // read after the wait below
  }

  // worst_case_schedule::worker_finished()
  // Called by each worker when it is done; the last one wakes main().
  void worker_finished() {
    // acq_rel: each worker's report() happens-before main() reads the counts after the wait; the
    // event's set/wait pair carries that ordering from the last worker to main().
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) all_finished_.set();
  }

  // worst_case_schedule::wait_for_workers()
  // Waits (bounded) until every worker of this run has called worker_finished().
  bool wait_for_workers() const { return all_finished_.wait(kBoundMs); }

  // worst_case_schedule::wrong_messages()
  // How many workers read something other than kMessage. Valid after wait_for_workers().
  int wrong_messages() const { return wrong_.load(std::memory_order_relaxed); }

 private:
  example::event gate_;
  example::event all_finished_;
  std::atomic<int> remaining_{0};
  std::atomic<int> wrong_{0};
};

inline worst_case_schedule g_schedule;

}  // namespace wrap_createthread

#endif  // MODREF_EXAMPLES_WRAP_CREATETHREAD_WORST_CASE_SCHEDULE_H_
