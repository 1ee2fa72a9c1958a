// pool_checks.cpp — modref-pool-without-library, modref-exit-thread-in-pool-callback,
// modref-pool-in-global-destructor.
#include "checks.h"
#include "common.h"
#include "clang/ASTMatchers/ASTMatchFinder.h"
#include "clang/ASTMatchers/ASTMatchers.h"

namespace modref_tidy {
using namespace clang;
using namespace clang::ast_matchers;

namespace {

auto pool_call_matcher() {
  return callExpr(callee(functionDecl(hasAnyName(
                      "::TrySubmitThreadpoolCallback", "::CreateThreadpoolWork",
                      "::CreateThreadpoolTimer", "::CreateThreadpoolWait", "::CreateThreadpoolIo",
                      "::QueueUserWorkItem", "::RegisterWaitForSingleObject",
                      "::CreateTimerQueueTimer", "::BindIoCompletionCallback"))))
      .bind("call");
}

bool reaches_api(const FunctionDecl* fn, llvm::ArrayRef<llvm::StringRef> names, unsigned depth) {
  if (fn == nullptr) return false;
  walk_options options;
  options.max_depth = depth;
  options.enter_system = false;
  return find_reachable(
             fn, [&](const call_site& s) { return is_api(s.callee, names); }, options)
      .has_value();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// modref-pool-without-library

struct pool_without_library_check::state {};

pool_without_library_check::pool_without_library_check(llvm::StringRef name,
                                                       tidy::ClangTidyContext* context)
    : modref_check(name, context) {}
void pool_without_library_check::storeOptions(tidy::ClangTidyOptions::OptionMap& options) {
  modref_check::storeOptions(options);
}
void pool_without_library_check::onEndOfTranslationUnit() {}

void pool_without_library_check::registerMatchers(MatchFinder* finder) {
  finder->addMatcher(pool_call_matcher(), this);
}

namespace {

// How the environment argument stands: null, a variable never given a callback library, or
// something this check cannot follow (a parameter, a member, a variable handed to another
// function that may configure it), which it leaves alone.
enum class environment_state { null, unconfigured, unknown };

environment_state classify_environment(const Expr* env, const FunctionDecl* fn,
                                       const CallExpr* pool_call, ASTContext& ctx) {
  if (is_null(env, ctx)) return environment_state::null;
  const Expr* e = strip(env);
  const auto* unary = dyn_cast<UnaryOperator>(e);
  if (unary == nullptr || unary->getOpcode() != UO_AddrOf) return environment_state::unknown;
  const auto* ref = dyn_cast<DeclRefExpr>(strip(unary->getSubExpr()));
  const auto* var = ref ? dyn_cast<VarDecl>(ref->getDecl()) : nullptr;
  if (var == nullptr || !var->hasLocalStorage() || fn == nullptr) return environment_state::unknown;
  // Every call in the function that receives the variable (or its address).
  for (const call_site& s : calls_made_by(fn)) {
    const auto* call = dyn_cast_or_null<CallExpr>(s.expr);
    if (call == nullptr || call == pool_call) continue;
    for (const Expr* arg : call->arguments()) {
      const Expr* a = strip(arg);
      if (const auto* u = dyn_cast<UnaryOperator>(a); u && u->getOpcode() == UO_AddrOf) {
        a = strip(u->getSubExpr());
      }
      const auto* r = dyn_cast<DeclRefExpr>(a);
      if (r == nullptr || r->getDecl() != var) continue;
      if (is_api(s.callee, {"SetThreadpoolCallbackLibrary"})) return environment_state::unknown;
      if (!is_api(s.callee, {"InitializeThreadpoolEnvironment", "DestroyThreadpoolEnvironment",
                             "SetThreadpoolCallbackPool", "SetThreadpoolCallbackCleanupGroup",
                             "SetThreadpoolCallbackRunsLong", "SetThreadpoolCallbackPriority",
                             "SetThreadpoolCallbackPersistent", "TrySubmitThreadpoolCallback",
                             "CreateThreadpoolWork", "CreateThreadpoolTimer",
                             "CreateThreadpoolWait", "CreateThreadpoolIo"})) {
        return environment_state::unknown;  // handed to code that may set the library
      }
    }
  }
  return environment_state::unconfigured;
}

}  // namespace

void pool_without_library_check::check(const MatchFinder::MatchResult& result) {
  ASTContext& ctx = *result.Context;
  const auto* call = result.Nodes.getNodeAs<CallExpr>("call");
  const async_api* api = async_api_of(call);
  if (api == nullptr || !is_dll(ctx)) return;
  if (!first_report(call->getBeginLoc(), *result.SourceManager)) return;
  if (api->legacy) {
    diag(call->getBeginLoc(),
         "unload race: %0 is a legacy thread-pool API with no callback library: nothing keeps "
         "the DLL loaded while its callback runs, and a callback cannot release a pin safely "
         "(race lab pool_without_library; curl/curl #13509); use modref::submit or a modref "
         "pool object, or a TP_CALLBACK_ENVIRON given SetThreadpoolCallbackLibrary")
        << api->name;
    return;
  }
  // A callback that ends with FreeLibraryWhenCallbackReturns releases a pin taken for it.
  const FunctionDecl* callback = function_from_argument(call->getArg(api->callback));
  if (reaches_api(callback, {"FreeLibraryWhenCallbackReturns"}, 3)) return;
  if (static_cast<int>(call->getNumArgs()) <= api->environment) return;
  const environment_state env = classify_environment(call->getArg(api->environment),
                                                     enclosing_function(call, ctx), call, ctx);
  if (env == environment_state::unknown) return;
  diag(call->getBeginLoc(),
       "unload race: %0 with %1: the pool does not know the callback's module, so the host may "
       "FreeLibrary the DLL while the callback runs (race lab pool_without_library; "
       "docs/patterns.md #4); use modref::submit or a modref pool object, or call "
       "SetThreadpoolCallbackLibrary(&env, module) before queueing")
      << api->name
      << (env == environment_state::null ? "a null callback environment"
                                         : "an environment never given "
                                           "SetThreadpoolCallbackLibrary");
}

// ---------------------------------------------------------------------------------------------
// modref-exit-thread-in-pool-callback

struct exit_thread_in_pool_callback_check::state {};

exit_thread_in_pool_callback_check::exit_thread_in_pool_callback_check(
    llvm::StringRef name, tidy::ClangTidyContext* context)
    : modref_check(name, context) {}
void exit_thread_in_pool_callback_check::storeOptions(tidy::ClangTidyOptions::OptionMap& options) {
  modref_check::storeOptions(options);
}
void exit_thread_in_pool_callback_check::onEndOfTranslationUnit() {}

void exit_thread_in_pool_callback_check::registerMatchers(MatchFinder* finder) {
  finder->addMatcher(pool_call_matcher(), this);
  // Callables handed to modref's pool API run on pool threads too.
  finder->addMatcher(callExpr(callee(functionDecl(hasAnyName("::modref::submit",
                                                             "::modref::callback_group::submit"))))
                         .bind("modref_call"),
                     this);
}

void exit_thread_in_pool_callback_check::check(const MatchFinder::MatchResult& result) {
  const CallExpr* call = result.Nodes.getNodeAs<CallExpr>("call");
  std::vector<const FunctionDecl*> callbacks;
  llvm::StringRef via;
  if (call != nullptr) {
    const async_api* api = async_api_of(call);
    if (api == nullptr) return;
    callbacks.push_back(function_from_argument(call->getArg(api->callback)));
    via = api->name;
  } else if ((call = result.Nodes.getNodeAs<CallExpr>("modref_call"))) {
    for (const Expr* arg : call->arguments()) callbacks.push_back(function_from_argument(arg));
    via = "modref::submit";
  }
  walk_options options;
  options.max_depth = 4;
  options.enter_system = false;
  for (const FunctionDecl* callback : callbacks) {
    if (callback == nullptr) continue;
    const auto path = find_reachable(
        callback, [](const call_site& s) { return is_api(s.callee, kThreadEnders); }, options);
    if (!path) continue;
    const call_site& exit = path->back();
    if (!first_report(exit.loc, *result.SourceManager)) continue;
    diag(exit.loc,
         "%0 on a thread-pool thread: the pool owns this thread, and ending it skips the pool's "
         "own bookkeeping (and FreeLibraryWhenCallbackReturns), so the pool loses a thread and "
         "the module reference is mishandled (Microsoft's thread-pool rules; docs/patterns.md "
         "checklist); return from the callback, and let modref::submit or "
         "FreeLibraryWhenCallbackReturns release the module")
        << name_of(exit.callee);
    for (size_t i = 0; i + 1 < path->size(); ++i) {
      diag((*path)[i].loc, "through a call to '%0'", DiagnosticIDs::Note)
          << name_of((*path)[i].callee);
    }
    diag(call->getBeginLoc(), "the callback is queued here by %0", DiagnosticIDs::Note) << via;
  }
}

// ---------------------------------------------------------------------------------------------
// modref-pool-in-global-destructor

struct pool_in_global_destructor_check::state {
  std::string termination_checks_option;
  std::vector<std::string> termination_checks;
};

pool_in_global_destructor_check::pool_in_global_destructor_check(llvm::StringRef name,
                                                                 tidy::ClangTidyContext* context)
    : modref_check(name, context), state_(std::make_shared<state>()) {
  state_->termination_checks_option =
      Options.get("TerminationChecks", "modref::process_terminating;RtlDllShutdownInProgress")
          .str();
  state_->termination_checks = split_list(state_->termination_checks_option);
}
void pool_in_global_destructor_check::storeOptions(tidy::ClangTidyOptions::OptionMap& options) {
  modref_check::storeOptions(options);
  Options.store(options, "TerminationChecks", state_->termination_checks_option);
}
void pool_in_global_destructor_check::onEndOfTranslationUnit() {}

void pool_in_global_destructor_check::registerMatchers(MatchFinder* finder) {
  finder->addMatcher(varDecl(hasGlobalStorage(), unless(hasThreadStorageDuration()),
                             unless(isExpansionInSystemHeader()), isDefinition())
                         .bind("global"),
                     this);
}

void pool_in_global_destructor_check::check(const MatchFinder::MatchResult& result) {
  ASTContext& ctx = *result.Context;
  const auto* var = result.Nodes.getNodeAs<VarDecl>("global");
  if (var == nullptr) return;
  QualType type = var->getType();
  if (const ArrayType* array = ctx.getAsArrayType(type)) type = array->getElementType();
  const CXXRecordDecl* record = type->getAsCXXRecordDecl();
  if (record == nullptr || !record->hasDefinition() || record->hasTrivialDestructor()) return;
  if (in_modref_namespace(var) || in_modref_namespace(record)) return;  // termination_safe, ...
  if (!is_dll(ctx)) return;
  const CXXDestructorDecl* dtor = record->getDestructor();
  if (dtor == nullptr) return;
  const auto checks_termination = [&](const FunctionDecl* fn) {
    for (const call_site& s : calls_made_by(fn)) {
      const std::string name = qualified_name(s.callee);
      for (const std::string& check : state_->termination_checks) {
        if (name == check) return true;
      }
    }
    return false;
  };
  if (checks_termination(dtor)) return;
  walk_options options;
  options.max_depth = 5;
  const auto path = find_reachable(
      dtor, [](const call_site& s) { return is_api(s.callee, kPoolUsers); }, options,
      checks_termination);
  if (!path || !first_report(var->getLocation(), *result.SourceManager)) return;
  diag(var->getLocation(),
       "termination race: DLL global '%0' uses the thread pool in its destructor (%1) without a "
       "termination check; at process exit it runs in DLL_PROCESS_DETACH after the pool was shut "
       "down, and the call crashes in TppRaiseInvalidParameter (race lab "
       "pool_in_global_dtor_at_exit; seed 000; microsoft/libHttpClient #458/#459); hold it in "
       "modref::termination_safe<T>, or return early when modref::process_terminating()")
      << var->getName() << name_of(path->back().callee);
  for (const call_site& step : *path) {
    diag(step.loc, "calls '%0' here", DiagnosticIDs::Note) << qualified_name(step.callee);
  }
}

}  // namespace modref_tidy
