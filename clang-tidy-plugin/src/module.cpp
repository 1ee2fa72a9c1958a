// module.cpp — registers the modref-* checks with clang-tidy and holds what they share.
#include "apis.h"
#include "checks.h"
#include "clang-tidy/ClangTidyModule.h"
#include "clang-tidy/ClangTidyModuleRegistry.h"

namespace modref_tidy {

const async_api* async_api_of(const clang::CallExpr* call) {
  const clang::FunctionDecl* fn = call ? call->getDirectCallee() : nullptr;
  if (fn == nullptr) return nullptr;
  for (const async_api& api : kAsyncApis) {
    if (is_api(fn, {api.name}) && static_cast<int>(call->getNumArgs()) > api.callback) return &api;
  }
  return nullptr;
}

modref_check::modref_check(llvm::StringRef name, clang::tidy::ClangTidyContext* context)
    : ClangTidyCheck(name, context) {
  kind_options_.module_kind = Options.getLocalOrGlobal("ModuleKind", "auto").str();
  kind_options_.dll_macros =
      Options.getLocalOrGlobal("DllMacros", "_WINDLL;_USRDLL;*_EXPORTS").str();
  pin_functions_option_ =
      Options
          .getLocalOrGlobal("PinFunctions",
                            "modref::module_ref::pin_current;modref::module_ref::pin_address;"
                            "modref::module_ref::load;modref::pin_current_forever")
          .str();
  pin_functions_ = split_list(pin_functions_option_);
}

void modref_check::storeOptions(clang::tidy::ClangTidyOptions::OptionMap& options) {
  Options.store(options, "ModuleKind", kind_options_.module_kind);
  Options.store(options, "DllMacros", kind_options_.dll_macros);
  Options.store(options, "PinFunctions", pin_functions_option_);
}

bool modref_check::first_report(clang::SourceLocation loc, const clang::SourceManager& sm) {
  const clang::PresumedLoc presumed = sm.getPresumedLoc(sm.getFileLoc(loc));
  if (presumed.isInvalid()) return true;
  return reported_.emplace(presumed.getFilename(), presumed.getLine() * 1000 + presumed.getColumn())
      .second;
}

class modref_module : public clang::tidy::ClangTidyModule {
 public:
  void addCheckFactories(clang::tidy::ClangTidyCheckFactories& factories) override {
    factories.registerCheck<thread_without_pin_check>("modref-thread-without-pin");
    factories.registerCheck<pool_without_library_check>("modref-pool-without-library");
    factories.registerCheck<pin_inside_worker_check>("modref-pin-inside-worker");
    factories.registerCheck<free_library_then_exit_check>("modref-free-library-then-exit");
    factories.registerCheck<exit_thread_not_last_check>("modref-exit-thread-not-last");
    factories.registerCheck<exit_thread_in_pool_callback_check>(
        "modref-exit-thread-in-pool-callback");
    factories.registerCheck<wait_in_dllmain_check>("modref-wait-in-dllmain");
    factories.registerCheck<freed_parameter_check>("modref-freed-parameter");
    factories.registerCheck<pool_in_global_destructor_check>("modref-pool-in-global-destructor");
  }
};

}  // namespace modref_tidy

namespace {
clang::tidy::ClangTidyModuleRegistry::Add<modref_tidy::modref_module> registration(
    "modref-module",
    "Checks for the unload, freed-parameter and termination races of Windows DLLs");
}  // namespace
