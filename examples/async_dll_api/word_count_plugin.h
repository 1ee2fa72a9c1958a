// word_count_plugin.h — the public interface of word_count_plugin.dll, as its host sees it.
//
// The plugin exports one asynchronous function. It returns at once; the counting happens on a
// thread of the plugin's own, which reports the result through a callback. Nothing in this
// interface mentions modref: the host is an ordinary Win32 program that may FreeLibrary the
// plugin the moment StartWordCount returns, and the plugin has to survive that.
#ifndef MODREF_EXAMPLES_ASYNC_DLL_API_WORD_COUNT_PLUGIN_H_
#define MODREF_EXAMPLES_ASYNC_DLL_API_WORD_COUNT_PLUGIN_H_

#include <windows.h>

extern "C" {

// Called exactly once, on the plugin's worker thread, after StartWordCount returned S_OK.
// `result` is S_OK, and `words` the number of whitespace-separated words in the text.
// `context` is the pointer the caller gave to StartWordCount.
using word_count_done_fn = void (*)(HRESULT result, unsigned long long words, void* context);

// Starts counting the words of `text` and returns without waiting.
//   - `text` is only read before StartWordCount returns: the caller may free or reuse it at once.
//   - `done` is called later, on another thread, unless StartWordCount fails.
//   - The caller may FreeLibrary the plugin as soon as this returns.
// Returns S_OK, E_INVALIDARG (null text or callback), or the HRESULT of the Win32 error that
// prevented the worker from starting (then `done` is never called).
using start_word_count_fn = HRESULT (*)(const wchar_t* text, word_count_done_fn done,
                                        void* context);

}  // extern "C"

#endif  // MODREF_EXAMPLES_ASYNC_DLL_API_WORD_COUNT_PLUGIN_H_
