// word_count_plugin_linux.h — the public interface of word_count_plugin.so, the Linux twin of
// word_count_plugin.h, as its host sees it.
//
// The plugin exports one asynchronous function. It returns at once; the counting happens on a
// thread of the plugin's own, which reports the result through a callback. Nothing in this
// interface mentions modref: the host is an ordinary program that may dlclose() the plugin the
// moment start_word_count returns, and the plugin has to survive that.
#ifndef MODREF_EXAMPLES_ASYNC_DLL_API_WORD_COUNT_PLUGIN_LINUX_H_
#define MODREF_EXAMPLES_ASYNC_DLL_API_WORD_COUNT_PLUGIN_LINUX_H_

extern "C" {

// Called exactly once, on the plugin's worker thread, after start_word_count returned 0, with the
// number of whitespace-separated words and the `context` the caller gave to start_word_count.
using word_count_done_fn = void (*)(unsigned long long words, void* context);

// Starts counting the words of `text` and returns without waiting.
//   - `text` is only read before start_word_count returns: the caller may free or reuse it.
//   - `done` is called later, on another thread, unless start_word_count fails.
//   - The caller may dlclose the plugin as soon as this returns.
// Returns 0, EINVAL (null text or callback), or the errno that kept the worker from starting
// (then `done` is never called).
using start_word_count_fn = int (*)(const char* text, word_count_done_fn done, void* context);

}  // extern "C"

#endif  // MODREF_EXAMPLES_ASYNC_DLL_API_WORD_COUNT_PLUGIN_LINUX_H_
