// checks.h — the nine modref-* checks. Each message names the race, where it comes from (a race-lab
// row, a seed, a field report) and the modref fix. docs/tidy.md describes each check, its options
// and what it deliberately does not see.
#ifndef MODREF_TIDY_CHECKS_H
#define MODREF_TIDY_CHECKS_H

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "analysis.h"
#include "clang-tidy/ClangTidyCheck.h"

namespace modref_tidy {

// modref_check: what every modref-* check shares: the DLL-or-EXE decision (options ModuleKind and
// DllMacros, also readable as global options) and the list of pin functions (PinFunctions).
class modref_check : public clang::tidy::ClangTidyCheck {
 public:
  modref_check(llvm::StringRef name, clang::tidy::ClangTidyContext* context);
  void registerPPCallbacks(const clang::SourceManager&, clang::Preprocessor* pp,
                           clang::Preprocessor*) override {
    kind_.set_preprocessor(pp);
  }
  void storeOptions(clang::tidy::ClangTidyOptions::OptionMap& options) override;
  bool isLanguageVersionSupported(const clang::LangOptions& lang) const override {
    return lang.CPlusPlus;
  }

 protected:
  bool is_dll(clang::ASTContext& ctx) { return kind_.is_dll(ctx, kind_options_); }
  // Reports once per location: a template instantiated twice must not report twice.
  bool first_report(clang::SourceLocation loc, const clang::SourceManager& sm);

  module_kind_options kind_options_;
  std::string pin_functions_option_;
  std::vector<std::string> pin_functions_;

 private:
  module_kind_cache kind_;
  std::set<std::pair<std::string, unsigned>> reported_;
};

#define MODREF_TIDY_DECLARE_CHECK(class_name)                                         \
  class class_name : public modref_check {                                            \
   public:                                                                            \
    class_name(llvm::StringRef name, clang::tidy::ClangTidyContext* context);         \
    void registerMatchers(clang::ast_matchers::MatchFinder* finder) override;         \
    void check(const clang::ast_matchers::MatchFinder::MatchResult& result) override; \
    void storeOptions(clang::tidy::ClangTidyOptions::OptionMap& options) override;    \
    void onEndOfTranslationUnit() override;                                           \
                                                                                      \
   private:                                                                           \
    struct state;                                                                     \
    std::shared_ptr<state> state_;                                                    \
  }

// 1. A thread started from a DLL without a pin taken before the call returns.
MODREF_TIDY_DECLARE_CHECK(thread_without_pin_check);
// 2. Pool work without a callback library; the legacy pool APIs.
MODREF_TIDY_DECLARE_CHECK(pool_without_library_check);
// 3. A worker that pins its own module.
MODREF_TIDY_DECLARE_CHECK(pin_inside_worker_check);
// 4. FreeLibrary of the own module followed by ExitThread or a return.
MODREF_TIDY_DECLARE_CHECK(free_library_then_exit_check);
// 5. Code after FreeLibraryAndExitThread; objects with destructors alive at that call.
MODREF_TIDY_DECLARE_CHECK(exit_thread_not_last_check);
// 6. ExitThread / FreeLibraryAndExitThread reachable from a thread-pool callback.
MODREF_TIDY_DECLARE_CHECK(exit_thread_in_pool_callback_check);
// 7. Waiting or loading inside DllMain (and in destructors of DLL globals).
MODREF_TIDY_DECLARE_CHECK(wait_in_dllmain_check);
// 8. A local's address or a dying smart pointer's get() as a thread's or callback's context.
MODREF_TIDY_DECLARE_CHECK(freed_parameter_check);
// 9. A DLL global whose destructor uses the thread pool without a termination check.
MODREF_TIDY_DECLARE_CHECK(pool_in_global_destructor_check);

#undef MODREF_TIDY_DECLARE_CHECK

}  // namespace modref_tidy

#endif  // MODREF_TIDY_CHECKS_H
