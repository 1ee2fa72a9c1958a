// Helpers shared by modref's Linux tests: is a .so mapped (/proc/self/maps), bounded waits for a
// thread to be gone or a .so to be unmapped, and typed dlsym.
#ifndef MODREF_TESTS_SUPPORT_TEST_SUPPORT_LINUX_H_
#define MODREF_TESTS_SUPPORT_TEST_SUPPORT_LINUX_H_

#include <dlfcn.h>
#include <sys/types.h>
#include <time.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace modref_test {

// True while some mapping of the process comes from the file at `path`.
inline bool is_mapped(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.size() >= path.size() &&
        line.compare(line.size() - path.size(), path.size(), path) == 0) {
      return true;
    }
  }
  return false;
}

// Number of lines in /proc/self/maps (flat across load/unload cycles when nothing leaks).
inline int mapping_count() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line)) ++n;
  return n;
}

// Waits until `predicate()` holds. A detached thread's end is visible to others only through the
// kernel (its /proc/self/task entry goes away after glibc's thread-exit code has run), hence a
// poll; 20 s is a bound for a 2-core machine loaded by other builds, not an expected time.
template <class Predicate>
bool wait_until(Predicate predicate, std::chrono::milliseconds bound = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    const timespec pause{0, 1000000};  // 1 ms
    ::nanosleep(&pause, nullptr);
  }
  return true;
}

// True once the kernel thread `tid` of this process has ended.
inline bool thread_gone(pid_t tid) {
  return tid != 0 && !std::filesystem::exists("/proc/self/task/" + std::to_string(tid));
}

// dlsym with the function type; null when the symbol is missing.
template <class Fn>
Fn get_export(void* so, const char* name) {
  return reinterpret_cast<Fn>(::dlsym(so, name));
}

}  // namespace modref_test

#endif  // MODREF_TESTS_SUPPORT_TEST_SUPPORT_LINUX_H_
