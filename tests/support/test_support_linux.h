// Helpers shared by modref's Linux tests (the Linux half of test_support.h): is a .so mapped
// (/proc/self/maps), bounded waits for a thread to be gone or a .so to be unmapped, typed dlsym,
// paths of sibling .so files and executables, open-fd and mapping counts, and child processes
// run with fork/exec (posix_spawn), a bound and a log (the race lab, tests/racelab/linux/).
#ifndef MODREF_TESTS_SUPPORT_TEST_SUPPORT_LINUX_H_
#define MODREF_TESTS_SUPPORT_TEST_SUPPORT_LINUX_H_

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

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
// kernel (its /proc/self/task entry goes away after glibc's thread-exit code has run), and a .so
// is unmapped on its last worker's thread-exit path, hence a poll of the state (not a sleep to get
// an interleaving); 20 s is a bound for a 2-core machine loaded by other builds, not an expected
// time.
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

// Waits (bounded, as wait_until) until no mapping comes from `path`.
inline bool wait_until_unmapped(const std::string& path,
                                std::chrono::milliseconds bound = std::chrono::seconds(20)) {
  return wait_until([&] { return !is_mapped(path); }, bound);
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

// The folder of the running executable; the race lab's .so files and hosts are built next to it.
inline std::filesystem::path exe_dir() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path();
}

inline std::filesystem::path sibling(const char* name) { return exe_dir() / name; }

// Open file descriptors (entries of /proc/self/fd, minus the one the listing itself uses).
inline int count_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int entries = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++entries;
  }
  ::closedir(dir);
  return entries - 1;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// How a child process ended.
struct child_status {
  bool started = false;
  bool timed_out = false;  // killed by run_child after its bound
  int exit_code = -1;      // when it exited
  int signal = 0;          // when a signal ended it (SIGSEGV for code run after its unmap)
};

// Runs `argv` (argv[0] a path) as a child process (posix_spawn: fork + exec) with its standard
// output and error in `log`, and waits for it at most `bound` (a pidfd polled with that timeout:
// woken by the child's end, not by a sleep); past the bound it is killed with SIGKILL.
inline child_status run_child(const std::vector<std::string>& argv, std::chrono::milliseconds bound,
                              const std::filesystem::path& log) {
  child_status status;
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return status;
  status.started = true;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(bound.count()));
    ::close(pidfd);
    if (ready == 0) {
      status.timed_out = true;
      ::kill(pid, SIGKILL);
    }
  }
  int wstatus = 0;
  if (::waitpid(pid, &wstatus, 0) == pid && !status.timed_out) {
    if (WIFEXITED(wstatus)) status.exit_code = WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) status.signal = WTERMSIG(wstatus);
  }
  return status;
}

}  // namespace modref_test

#endif  // MODREF_TESTS_SUPPORT_TEST_SUPPORT_LINUX_H_
