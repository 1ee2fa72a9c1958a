// racelab_host_linux <scenario> <raw|control|modref>
// Runs one Linux race-lab scenario against racelab_<variant>.so in this process and exits with a
// lab_outcome (lab_io_linux.h) saying what happened. A crash ends the process with its signal
// (SIGSEGV for code run after its .so was unmapped). racelab_linux runs this host once per
// scenario and variant, each in a fresh process, and prints the table.
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../../support/test_support_linux.h"
#include "lab_io_linux.h"

namespace {

lab_io g_io;  // lives in the executable: valid after the .so is gone

// exit_with_running_worker: destroyed after the .so's globals (it was constructed before the .so
// was loaded); checks that the worker really ran while exit() destroyed them.
struct exit_check {
  bool armed = false;
  ~exit_check() {
    if (armed && !g_io.done.wait_for(std::chrono::milliseconds(0))) ::_exit(lab_setup_error);
  }
} g_exit_check;

// create_held_thread: a thread that exists but has not run a single instruction of the .so yet
// (the Win32 lab's CREATE_SUSPENDED). It runs host code until the host sets `resume`.
struct held_start {
  lab_thread_entry entry;
  void* arg;
};
void* held_trampoline(void* raw) {
  const held_start start = *static_cast<held_start*>(raw);
  delete static_cast<held_start*>(raw);
  g_io.resume.wait();
  return start.entry(start.arg);
}
int create_held_thread(lab_thread_entry entry, void* arg) {
  auto* start = new held_start{entry, arg};
  pthread_t thread{};
  const int error = ::pthread_create(&thread, nullptr, held_trampoline, start);
  if (error != 0) {
    delete start;
    return error;
  }
  ::pthread_detach(thread);
  return 0;
}

int finish_unload_scenario(const std::filesystem::path& so) {
  g_io.go.set();  // the worker continues only now, with the .so already dlclose'd by the host
  if (!g_io.done.wait_for(kLabWorkBound)) return lab_hang;
  if (!modref_test::wait_until_unmapped(so)) return lab_leak;
  return g_io.result;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: racelab_host_linux <scenario> <raw|control|modref>\n");
    return lab_setup_error;
  }
  const std::string scenario = argv[1];
  const std::string variant = argv[2];
  const std::filesystem::path so = modref_test::sibling(("racelab_" + variant + ".so").c_str());
  g_io.create_held_thread = create_held_thread;

  void* dl = ::dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (dl == nullptr) {
    std::fprintf(stderr, "dlopen: %s\n", ::dlerror());
    return lab_setup_error;
  }
  const std::string export_name = "scenario_" + scenario;
  auto entry = reinterpret_cast<lab_entry>(::dlsym(dl, export_name.c_str()));
  if (entry == nullptr) {
    std::fprintf(stderr, "%s has no %s\n", so.c_str(), export_name.c_str());
    return lab_setup_error;
  }

  if (scenario == "unload_while_running" || scenario == "pin_inside_worker") {
    if (const int error = entry(&g_io); error != 0) {
      std::fprintf(stderr, "start failed: %s\n", std::strerror(error));
      return lab_setup_error;
    }
    ::dlclose(dl);  // the host lets go at once (the held worker has not started yet)
    if (variant == "raw" && modref_test::is_mapped(so)) {
      std::fprintf(stderr, "%s is still mapped after its only dlclose (STB_GNU_UNIQUE?)\n",
                   so.c_str());
    }
    g_io.resume.set();  // pin_inside_worker: only now may the worker run its first instruction
    return finish_unload_scenario(so);
  }
  if (scenario == "freed_parameter") {
    if (entry(&g_io) != 0) return lab_setup_error;
    g_io.go.set();  // the creator has returned: its parameter is gone in the raw version
    if (!g_io.done.wait_for(kLabWorkBound)) return lab_hang;
    ::dlclose(dl);
    if (!modref_test::wait_until_unmapped(so)) return lab_leak;
    return g_io.result;
  }
  if (scenario == "creation_fails") {
    g_io.inject_error = EAGAIN;
    if (entry(&g_io) != EAGAIN) return lab_setup_error;
    auto live = reinterpret_cast<int (*)()>(::dlsym(dl, "live_objects"));
    const int leaked = live != nullptr ? live() : -1;
    ::dlclose(dl);
    if (leaked != 0) {
      std::fprintf(stderr, "%d objects still alive after the failed start\n", leaked);
      return lab_leak;
    }
    // Nothing runs in the .so any more, so it is unmapped at this dlclose or never: a pin that
    // was not given back.
    if (modref_test::is_mapped(so)) {
      std::fprintf(stderr, "%s still mapped after dlclose: a pin was not given back\n", so.c_str());
      return lab_leak;
    }
    return lab_passed;
  }
  if (scenario == "join_in_destructor") {
    if (entry(&g_io) != 0) return lab_setup_error;
    ::dlclose(dl);  // raw: runs the .so's destructors here, under the loader lock
    g_io.go.set();  // pinned: the worker ends, and its own thread-exit dlclose unloads the .so
    if (!modref_test::wait_until_unmapped(so)) return lab_leak;
    return g_io.result;
  }
  if (scenario == "exit_with_running_worker") {
    if (entry(&g_io) != 0) return lab_setup_error;
    g_exit_check.armed = true;
    std::exit(lab_passed);  // with the .so loaded and its worker running: its globals die now
  }
  std::fprintf(stderr, "unknown scenario %s\n", scenario.c_str());
  return lab_setup_error;
}
