// Helpers shared by modref's Linux tests (the Linux half of test_support.h): paths of sibling
// shared objects and executables, "is this .so still mapped" from /proc/self/maps with a bounded
// poll, open-fd and mapping counts, and child processes run with fork/exec, a bound and a log.
#ifndef MODREF_TESTS_SUPPORT_TEST_SUPPORT_LINUX_H_
#define MODREF_TESTS_SUPPORT_TEST_SUPPORT_LINUX_H_

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace modref_test {

// The folder of the running executable; the lab's .so files and hosts are built next to it.
inline std::filesystem::path exe_dir() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path();
}

inline std::filesystem::path sibling(const char* name) { return exe_dir() / name; }

// Whether any mapping of this process comes from the file at `path` (the loader maps a .so's
// segments from its file; after the unmap at the last dlclose none is left).
inline bool is_mapped(const std::filesystem::path& path) {
  std::ifstream maps("/proc/self/maps");
  const std::string name = path.string();
  std::string line;
  while (std::getline(maps, line)) {
    if (line.size() >= name.size() &&
        line.compare(line.size() - name.size(), name.size(), name) == 0)
      return true;
  }
  return false;
}

// Waits (bounded) until `path` is no longer mapped. The unload happens on the worker's thread-exit
// path, asynchronously from the host's point of view, hence a poll of the state (not a sleep to
// get an interleaving). 20 s: generous, the lab runs beside other builds on 2 cores.
inline bool wait_until_unmapped(const std::filesystem::path& path,
                                std::chrono::milliseconds bound = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (is_mapped(path)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// Lines of /proc/self/maps: every mapping of the process.
inline int count_mappings() {
  std::ifstream maps("/proc/self/maps");
  int lines = 0;
  std::string line;
  while (std::getline(maps, line)) ++lines;
  return lines;
}

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
