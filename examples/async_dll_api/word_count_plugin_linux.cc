// word_count_plugin.so — the Linux twin of word_count_plugin.cc: an asynchronous .so entry point
// written with modref::start_detached. The three races of the Windows version are the same here
// (the host's dlclose right after the call; the caller's text; the worker's release running in
// code that the release unmaps), and so is the fix: start_detached pins this .so before returning
// (dladdr + dlopen(RTLD_NOLOAD)), copies the arguments into a context the worker owns, and gives
// the pin back from glibc's thread-exit code, after every frame of this .so has returned.
#include <cctype>
#include <cerrno>
#include <string>
#include <string_view>

#include <modref/thread.h>

#include "word_count_plugin_linux.h"

namespace {

// The actual work. It knows nothing about threads or modules.
unsigned long long count_words(std::string_view text) {
  unsigned long long words = 0;
  bool in_word = false;
  for (const char c : text) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// What the worker runs, with its own copy of the text.
void count_and_report(std::string text, word_count_done_fn done, void* context) {
  done(count_words(text), context);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int start_word_count(const char* text,
                                                                       word_count_done_fn done,
                                                                       void* context) {
  if (text == nullptr || done == nullptr) return EINVAL;
  // One call: the pin (before it returns), the copy of `text`, the release at thread exit. If
  // anything fails, nothing is left behind: no thread, no pin, no copy.
  const absl::Status started =
      modref::start_detached(modref::thread_options{.name = L"word count"}, count_and_report,
                             std::string(text), done, context);
  return started.ok() ? 0 : modref::posix_error_code(started).value_or(EAGAIN);
}
