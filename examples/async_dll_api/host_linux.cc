// async_dll_api_linux — an impatient host for word_count_plugin.so (the Linux twin of host.cc).
//
// It calls the asynchronous export, overwrites the text it passed, and dlclose()s the plugin at
// once. Then it checks that
//   - the result is right, although the text was overwritten (the plugin copied it);
//   - the plugin is still mapped while its worker runs, although the host gave up its only
//     reference (the worker's pin keeps it);
//   - the plugin is unmapped once the worker has ended (the pin was given back from glibc's
//     thread-exit code, after the plugin's last frame).
// To make the second check deterministic the host holds the worker inside the completion callback
// (host code, with the plugin's frames below it) until it has looked.
#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>

#include "word_count_plugin_linux.h"

namespace {

constexpr const char* kName = "async_dll_api_linux";
// Bound for each rendezvous with the worker: it only turns a broken build into a failure
// instead of a hang (the CI machine is shared).
constexpr auto kBound = std::chrono::seconds(30);

class event {
 public:
  void set() {
    std::lock_guard<std::mutex> lock(mutex_);
    set_ = true;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, kBound, [this] { return set_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
};

struct completion {
  event counted;          // set by the callback once the result is stored
  event host_has_looked;  // set by the host; the callback returns after it
  unsigned long long words = 0;
};

void on_counted(unsigned long long words, void* context) {
  auto* done = static_cast<completion*>(context);
  done->words = words;
  std::printf("[worker] on_counted: %llu words; holding the worker until the host has looked\n",
              words);
  done->counted.set();
  (void)done->host_has_looked.wait();
}

bool is_mapped(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.size() >= path.size() &&
        line.compare(line.size() - path.size(), path.size(), path) == 0)
      return true;
  }
  return false;
}

int failures = 0;
void check(bool ok, const char* what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

}  // namespace

int main() {
  const std::string plugin =
      (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "word_count_plugin.so")
          .string();
  void* so = ::dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (so == nullptr) {
    std::printf("[FAILED] dlopen: %s\n", ::dlerror());
    return 1;
  }
  auto start = reinterpret_cast<start_word_count_fn>(::dlsym(so, "start_word_count"));
  if (start == nullptr) {
    std::printf("[FAILED] no start_word_count export\n");
    return 1;
  }
  std::string text = "the quick brown fox jumps over the lazy dog";
  completion done;
  const int started = start(text.c_str(), on_counted, &done);
  check(started == 0, "start_word_count returned 0");
  text.assign(text.size(), 'x');  // the host reuses its buffer at once
  ::dlclose(so);                  // and gives up its only reference at once
  std::printf("[host] text overwritten, plugin dlclose()d; waiting for the result\n");
  check(started == 0 && done.counted.wait(), "the worker reported");
  check(done.words == 9, "9 words, counted from the plugin's own copy of the text");
  check(is_mapped(plugin), "the plugin is still mapped while its worker runs");
  done.host_has_looked.set();
  // The unmap happens on the worker's thread-exit path: a bounded poll of /proc/self/maps.
  const auto deadline = std::chrono::steady_clock::now() + kBound;
  while (is_mapped(plugin) && std::chrono::steady_clock::now() < deadline) ::usleep(1000);
  check(!is_mapped(plugin), "the plugin is unmapped once the worker has ended");
  if (failures != 0) {
    std::printf("%s: %d check(s) FAILED\n", kName, failures);
    return 1;
  }
  std::printf("%s: all checks passed\n", kName);
  return 0;
}
