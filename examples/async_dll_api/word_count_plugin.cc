// word_count_plugin.dll — an asynchronous DLL entry point written with modref::start_detached.
//
// StartWordCount() starts a thread and returns. Three races wait for a DLL that does this with a
// bare CreateThread; each one has crashed real products, and each one is rare enough to pass
// every test on the developer's machine:
//
//   Race 1 — the unload race. The host calls FreeLibrary right after StartWordCount returns,
//   possibly before the new thread has run its first instruction. If that was the last reference,
//   the DLL is unmapped and the thread starts in freed memory. Taking a reference inside the worker
//   ("LoadLibrary(myself) first thing") is too late for exactly that reason: the reference must be
//   taken on the calling thread, before StartWordCount returns.
//
//   Race 2 — the borrowed-state race. `text` belongs to the caller, who may free or overwrite it
//   the moment StartWordCount returns. A worker that reads it through the caller's pointer reads
//   whatever is there by then. The worker needs its own copy, owned by something that lives
//   exactly as long as the worker needs it.
//
//   Race 3 — the last-instruction race. The worker must give its reference back when it is done,
//   but the code that gives it back lives in the DLL: after `FreeLibrary(self)` the function still
//   has to return (and run the destructors of its locals) in code that may just have been unmapped.
//   Only FreeLibraryAndExitThread releases the module and ends the thread in one call that never
//   returns, and it must come after every destructor.
//
// modref::start_detached closes all three by construction: it pins this DLL before returning
// (race 1), decay-copies the callable and its arguments into a reference-counted context that the
// worker owns (race 2), and runs the worker through a trampoline that destroys that context and
// then calls FreeLibraryAndExitThread as its very last statement (race 3). The export below is
// therefore a few lines long, and nothing in it is about lifetimes.
#include <windows.h>

#include <cwctype>
#include <string>
#include <string_view>

#include <modref/dll_main.h>
#include <modref/thread.h>

#include "word_count_plugin.h"

// This DLL has no DllMain of its own; modref's records when the DLL is being unloaded, after
// which pinning it again (starting new work from a global destructor) is refused.
MODREF_DEFINE_DLLMAIN();

namespace {

// The actual work. It knows nothing about threads or modules.
unsigned long long count_words(std::wstring_view text) {
  unsigned long long words = 0;
  bool in_word = false;
  for (const wchar_t c : text) {
    const bool space = std::iswspace(static_cast<wint_t>(c)) != 0;
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// What the worker runs. Its parameters are the worker's own copies (see StartWordCount): the
// std::wstring is destroyed when this function's context is, on the worker, before the DLL is
// released.
void count_and_report(std::wstring text, word_count_done_fn done, void* context) {
  done(S_OK, count_words(text), context);
}

}  // namespace

extern "C" __declspec(dllexport) HRESULT
    StartWordCount(const wchar_t* text, word_count_done_fn done, void* context) {
  if (text == nullptr || done == nullptr) return E_INVALIDARG;

  // One call does everything:
  //   - before it returns, this DLL is pinned (one loader reference, taken on this thread): the
  //     host's FreeLibrary can no longer unmap it under the worker (race 1);
  //   - std::wstring(text) copies the caller's text now, into the worker's context (race 2);
  //   - the worker ends with FreeLibraryAndExitThread, after the context and the copy are
  //     destroyed (race 3).
  // If anything fails, nothing is left behind: no thread, no pin, no copy.
  const absl::Status started =
      modref::start_detached(modref::thread_options{.name = L"word count"}, count_and_report,
                             std::wstring(text), done, context);
  if (!started.ok()) {
    return HRESULT_FROM_WIN32(modref::win32_error_code(started).value_or(ERROR_GEN_FAILURE));
  }
  return S_OK;
}
