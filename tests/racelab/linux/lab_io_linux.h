// The contract between the Linux race-lab host (racelab_host_linux) and its three scenario shared
// objects, the Linux counterpart of ../lab_io.h:
//   racelab_raw.so      each scenario the way the field writes it (the bug);
//   racelab_control.so  the verified fix written by hand: dladdr + dlopen(RTLD_NOLOAD) before
//                       returning, __cxa_thread_atexit(dlclose, pin, <libc>) as the worker's first
//                       act (pin_by_hand_linux.h);
//   racelab_modref.so   the same scenario with modref.
// All three export `scenario_<name>(lab_io*)`. The host owns one lab_io for the whole process (it
// lives in the executable, so it stays valid after the .so is unmapped) and forces the
// interleaving with its events: workers wait on `go`, which the host sets only once it has put
// the process in the dangerous state (the .so dlclose'd, the globals destroyed, ...).
#ifndef MODREF_TESTS_RACELAB_LINUX_LAB_IO_LINUX_H_
#define MODREF_TESTS_RACELAB_LINUX_LAB_IO_LINUX_H_

#include <pthread.h>

#include <cstring>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

// Exit codes of racelab_host_linux: what happened in one run of one scenario. A crash ends the
// child with a signal (SIGSEGV for code run after its .so was unmapped), which the lab reports.
enum lab_outcome : int {
  lab_passed = 0,       // survived, and every check held
  lab_setup_error = 2,  // the scenario could not be set up (a bug in the lab, or not built)
  lab_corrupted = 10,   // a worker read destroyed or freed data
  lab_hang = 11,        // a wait that can never end, broken by a bounded timeout
  lab_leak = 12,        // a reference, object or pin was never given back (the .so stays mapped)
};

// A manual-reset event (the Win32 lab's CreateEvent(TRUE, FALSE)). Its members are inline, so a
// worker waiting in a .so waits in that .so's copy of wait(): returning from the condition
// variable lands in the .so's code, which is exactly what must still be mapped.
class lab_event {
 public:
  void set() {
    std::lock_guard<std::mutex> lock(mutex_);
    set_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return set_; });
  }
  // Bounded wait: false when the event was not set within `bound`.
  bool wait_for(std::chrono::milliseconds bound) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, bound, [this] { return set_; });
  }
  void reset() {
    std::lock_guard<std::mutex> lock(mutex_);
    set_ = false;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
};

// A thread entry point in a scenario .so.
using lab_thread_entry = void* (*)(void*);

struct lab_io {
  lab_event go;    // the host lets the worker continue
  lab_event done;  // the worker finished its work
  // Scenario-specific outcome written by .so code (a lab_outcome); relaxed: every reader first
  // synchronizes with the writer through `done`, a join or the unmap.
  std::atomic<int> result{lab_passed};
  // pin_inside_worker: Linux has no CREATE_SUSPENDED, so the host creates a thread that is held
  // before its first instruction in the .so: create_held_thread(entry, arg) starts a host thread
  // that waits for `resume` and only then calls entry(arg). Returns 0 or an errno.
  int (*create_held_thread)(lab_thread_entry entry, void* arg) = nullptr;
  lab_event resume;  // set by the host after its dlclose (racelab_modref.so: opens modref's seam)
  int inject_error = 0;  // creation_fails: the pthread_create failure to inject (an errno)
};

// Every scenario entry point: returns 0 when the asynchronous operation was started, else an
// errno.
using lab_entry = int (*)(lab_io*);

// Constants are plain `constexpr` (internal linkage), never `inline constexpr`: an inline variable
// in a .so is an STB_GNU_UNIQUE symbol, and one such symbol makes the .so undeletable (dlclose
// then never unmaps it). The first version of this header had one, and the raw rows stopped
// crashing.
//
// The text a correct worker reads in the freed-parameter and exit scenarios.
constexpr char kLabMessage[] = "Hello World!";

// Bounds for waits that only a broken scenario would reach. Generous: the lab runs beside other
// builds on 2 cores.
constexpr std::chrono::milliseconds kLabWorkBound{15000};
// The bound on a join that deadlocks (join_in_destructor): long enough that a worker that can
// finish has finished, short enough to report the hang quickly.
constexpr std::chrono::milliseconds kLabDeadlockBound{3000};

// exit_with_running_worker: the plugin state each scenario .so keeps as a global, destroyed by
// exit() while the .so's worker runs. Once armed, its destructor scrubs the text (as freed memory
// would be), then lets the worker look (`go`) and waits for it (bounded).
struct lab_plugin_state {
  char message[32] = {};
  lab_io* io = nullptr;  // set by arm()
  lab_plugin_state() { std::strcpy(message, kLabMessage); }
  void arm(lab_io* host_io) { io = host_io; }
  ~lab_plugin_state() {
    if (io == nullptr) return;
    std::memset(message, 0xDD, sizeof message);
    io->go.set();
    (void)io->done.wait_for(kLabWorkBound);
  }
};

#endif  // MODREF_TESTS_RACELAB_LINUX_LAB_IO_LINUX_H_
