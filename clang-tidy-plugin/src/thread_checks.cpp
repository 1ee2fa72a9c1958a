// thread_checks.cpp — modref-thread-without-pin, modref-pin-inside-worker, modref-freed-parameter.
#include "checks.h"
#include "common.h"
#include "clang/ASTMatchers/ASTMatchFinder.h"
#include "clang/ASTMatchers/ASTMatchers.h"

namespace modref_tidy {
using namespace clang;
using namespace clang::ast_matchers;

namespace {

// Matches every call of an API of kAsyncApis (threads and pool work).
auto async_call_matcher() {
  return callExpr(callee(functionDecl(hasAnyName(
                      "::CreateThread", "::_beginthreadex", "::_beginthread",
                      "::TrySubmitThreadpoolCallback", "::CreateThreadpoolWork",
                      "::CreateThreadpoolTimer", "::CreateThreadpoolWait", "::CreateThreadpoolIo",
                      "::QueueUserWorkItem", "::RegisterWaitForSingleObject",
                      "::CreateTimerQueueTimer", "::BindIoCompletionCallback"))))
      .bind("call");
}

auto std_thread_matcher() {
  return cxxConstructExpr(hasDeclaration(cxxConstructorDecl(
                              ofClass(hasAnyName("::std::thread", "::std::jthread")),
                              unless(anyOf(isCopyConstructor(), isMoveConstructor())))),
                          hasArgument(0, expr()))
      .bind("std_thread");
}

// True when `fn` (or what it calls, 3 levels deep, entering modref) takes a module reference at a
// call before `limit`.
bool pinned_before(const FunctionDecl* fn, SourceLocation limit, const ASTContext& ctx,
                   llvm::ArrayRef<std::string> pins) {
  const SourceManager& sm = ctx.getSourceManager();
  auto is_pin = [&](const call_site& s) {
    const auto* call = dyn_cast_or_null<CallExpr>(s.expr);
    return call != nullptr && is_pin_call(call, ctx, pins);
  };
  walk_options options;
  options.max_depth = 3;
  options.enter_modref = true;
  options.enter_system = false;
  for (const call_site& site : calls_made_by(fn)) {
    if (!before(site.loc, limit, sm)) continue;
    if (is_pin(site)) return true;
    if (site.callee->hasBody() && find_reachable(site.callee, is_pin, options)) return true;
  }
  return false;
}

bool waited_for_after(const FunctionDecl* fn, SourceLocation from, const ASTContext& ctx) {
  for (const call_site& site : calls_made_by(fn)) {
    if (before(from, site.loc, ctx.getSourceManager()) && waits_for_completion(site, ctx)) {
      return true;
    }
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// modref-thread-without-pin

struct thread_without_pin_check::state {};

thread_without_pin_check::thread_without_pin_check(llvm::StringRef name,
                                                   tidy::ClangTidyContext* context)
    : modref_check(name, context) {}
void thread_without_pin_check::storeOptions(tidy::ClangTidyOptions::OptionMap& options) {
  modref_check::storeOptions(options);
}
void thread_without_pin_check::onEndOfTranslationUnit() {}

void thread_without_pin_check::registerMatchers(MatchFinder* finder) {
  finder->addMatcher(async_call_matcher(), this);
  finder->addMatcher(std_thread_matcher(), this);
}

void thread_without_pin_check::check(const MatchFinder::MatchResult& result) {
  ASTContext& ctx = *result.Context;
  const Expr* start = nullptr;
  llvm::StringRef what;
  if (const auto* call = result.Nodes.getNodeAs<CallExpr>("call")) {
    const async_api* api = async_api_of(call);
    if (api == nullptr || !api->thread) return;
    if (api->name.startswith("_begin") && !targets_mingw(ctx)) return;  // the UCRT pins
    start = call;
    what = api->name;
  } else if (const auto* construct = result.Nodes.getNodeAs<CXXConstructExpr>("std_thread")) {
    if (!targets_mingw(ctx)) return;  // MSVC's std::thread uses _beginthreadex, which pins
    start = construct;
    what = name_of(construct->getConstructor()->getParent()) == "jthread" ? "std::jthread"
                                                                          : "std::thread";
  }
  if (start == nullptr || !is_dll(ctx)) return;
  const FunctionDecl* fn = enclosing_function(start, ctx);
  if (fn == nullptr) return;
  if (pinned_before(fn, start->getBeginLoc(), ctx, pin_functions_)) return;
  if (waited_for_after(fn, start->getEndLoc(), ctx)) return;  // cannot outlive the call
  if (!first_report(start->getBeginLoc(), *result.SourceManager)) return;
  diag(start->getBeginLoc(),
       "unload race: %0 starts a thread in a DLL with no pin on the module taken before the "
       "call, so the host may FreeLibrary the DLL while the thread still runs its code%1 "
       "(race lab unload_while_running; seed 002; Old New Thing 2013-11-05); use "
       "modref::start_detached or modref::%2, which pin before returning and end the thread "
       "with FreeLibraryAndExitThread")
      << what
      << (what.startswith("_begin")  ? "; MinGW's msvcrt does not pin for _beginthread(ex)"
          : what.startswith("std::") ? "; MinGW's std::thread does not pin"
                                     : "")
      << (what == "std::jthread" ? "jthread" : "thread");
}

// ---------------------------------------------------------------------------------------------
// modref-pin-inside-worker

struct pin_inside_worker_check::state {
  std::string own_names_option;
  std::vector<std::string> own_names;
};

pin_inside_worker_check::pin_inside_worker_check(llvm::StringRef name,
                                                 tidy::ClangTidyContext* context)
    : modref_check(name, context), state_(std::make_shared<state>()) {
  state_->own_names_option = Options.get("OwnModuleNames", "").str();
  state_->own_names = split_list(state_->own_names_option);
}
void pin_inside_worker_check::storeOptions(tidy::ClangTidyOptions::OptionMap& options) {
  modref_check::storeOptions(options);
  Options.store(options, "OwnModuleNames", state_->own_names_option);
}
void pin_inside_worker_check::onEndOfTranslationUnit() {}

void pin_inside_worker_check::registerMatchers(MatchFinder* finder) {
  finder->addMatcher(async_call_matcher(), this);
}

namespace {

// A call in `fn` (or below, 3 levels) that pins the module the code runs in: GetModuleHandleEx
// with FROM_ADDRESS and without UNCHANGED_REFCOUNT, or LoadLibrary of the module's own file name
// (GetModuleFileName in the same function, or a name listed in OwnModuleNames).
const CallExpr* self_pin(const FunctionDecl* fn, const ASTContext& ctx,
                         llvm::ArrayRef<std::string> own_names, unsigned depth) {
  if (fn == nullptr || depth > 3 || in_modref_namespace(fn)) return nullptr;
  if (ctx.getSourceManager().isInSystemHeader(fn->getLocation())) return nullptr;
  const std::vector<call_site> sites = calls_made_by(fn);
  bool knows_own_file = false;
  for (const call_site& s : sites) {
    if (is_api(s.callee, {"GetModuleFileNameA", "GetModuleFileNameW"})) knows_own_file = true;
  }
  for (const call_site& s : sites) {
    const auto* call = dyn_cast_or_null<CallExpr>(s.expr);
    if (call == nullptr) continue;
    if (is_api(s.callee, {"GetModuleHandleExA", "GetModuleHandleExW"}) && call->getNumArgs() >= 1) {
      const std::optional<int64_t> flags = constant_value(call->getArg(0), ctx);
      // GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS 0x4, GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT
      // 0x2
      if (flags && (*flags & 0x4) != 0 && (*flags & 0x2) == 0) return call;
      continue;
    }
    if (is_api(s.callee, {"LoadLibraryA", "LoadLibraryW", "LoadLibraryExA", "LoadLibraryExW"}) &&
        call->getNumArgs() >= 1) {
      if (knows_own_file) return call;
      if (const auto* literal = dyn_cast<StringLiteral>(strip(call->getArg(0)))) {
        if (literal->getCharByteWidth() == 1) {
          for (const std::string& own : own_names) {
            if (literal->getString().equals_insensitive(own)) return call;
          }
        }
      }
      continue;
    }
    if (const CallExpr* below = self_pin(s.callee, ctx, own_names, depth + 1)) return below;
  }
  return nullptr;
}

}  // namespace

void pin_inside_worker_check::check(const MatchFinder::MatchResult& result) {
  ASTContext& ctx = *result.Context;
  const auto* call = result.Nodes.getNodeAs<CallExpr>("call");
  const async_api* api = async_api_of(call);
  if (api == nullptr || !is_dll(ctx)) return;
  const FunctionDecl* worker = function_from_argument(call->getArg(api->callback));
  const CallExpr* pin = self_pin(worker, ctx, state_->own_names, 0);
  if (pin == nullptr || !first_report(pin->getBeginLoc(), *result.SourceManager)) return;
  diag(pin->getBeginLoc(),
       "unload race: the %0 pins its own module itself, too late: the host may FreeLibrary the "
       "DLL after %1 returned and before this line runs (race lab pin_inside_worker; Wine commit "
       "04bb9112d2d5, msvcrt _beginthread(ex)); take the pin before %1 returns, as "
       "modref::start_detached and modref::submit do")
      << (api->thread ? "thread procedure" : "pool callback") << api->name;
  diag(call->getBeginLoc(), "the %0 is started here", DiagnosticIDs::Note)
      << (api->thread ? "thread" : "callback");
}

// ---------------------------------------------------------------------------------------------
// modref-freed-parameter

struct freed_parameter_check::state {
  std::string smart_pointers_option;
  std::vector<std::string> smart_pointers;
};

freed_parameter_check::freed_parameter_check(llvm::StringRef name, tidy::ClangTidyContext* context)
    : modref_check(name, context), state_(std::make_shared<state>()) {
  state_->smart_pointers_option =
      Options
          .get("SmartPointers",
               "std::unique_ptr;std::shared_ptr;modref::ref_ptr;Microsoft::WRL::ComPtr;"
               "winrt::com_ptr;wil::com_ptr_t;ATL::CAutoPtr;ATL::CComPtr")
          .str();
  state_->smart_pointers = split_list(state_->smart_pointers_option);
}
void freed_parameter_check::storeOptions(tidy::ClangTidyOptions::OptionMap& options) {
  modref_check::storeOptions(options);
  Options.store(options, "SmartPointers", state_->smart_pointers_option);
}
void freed_parameter_check::onEndOfTranslationUnit() {}

void freed_parameter_check::registerMatchers(MatchFinder* finder) {
  finder->addMatcher(async_call_matcher(), this);
}

namespace {

const VarDecl* local_var(const Expr* e) {
  e = strip(e);
  while (const auto* member = dyn_cast_or_null<MemberExpr>(e)) {
    if (member->isArrow()) return nullptr;  // p->field: p's target, not p, is what counts
    e = strip(member->getBase());
  }
  const auto* ref = dyn_cast_or_null<DeclRefExpr>(e);
  const auto* var = ref ? dyn_cast<VarDecl>(ref->getDecl()) : nullptr;
  if (var == nullptr || !var->hasLocalStorage() || var->getType()->isReferenceType()) {
    return nullptr;
  }
  return var;
}

// True when, after `from`, the function gives up ownership of `var` (release, detach, Detach,
// std::move) — the worker then owns what get() returned.
bool ownership_handed_over(const FunctionDecl* fn, const VarDecl* var, SourceLocation from,
                           const ASTContext& ctx) {
  for (const call_site& s : calls_made_by(fn)) {
    if (!before(from, s.loc, ctx.getSourceManager())) continue;
    if (const auto* member = dyn_cast_or_null<CXXMemberCallExpr>(s.expr)) {
      const llvm::StringRef method = name_of(member->getMethodDecl());
      if ((method == "release" || method == "detach" || method == "Detach") &&
          local_var(member->getImplicitObjectArgument()) == var) {
        return true;
      }
    }
    if (const auto* call = dyn_cast_or_null<CallExpr>(s.expr)) {
      if (qualified_name(s.callee) == "std::move" && call->getNumArgs() == 1 &&
          local_var(call->getArg(0)) == var) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

void freed_parameter_check::check(const MatchFinder::MatchResult& result) {
  ASTContext& ctx = *result.Context;
  const auto* call = result.Nodes.getNodeAs<CallExpr>("call");
  const async_api* api = async_api_of(call);
  if (api == nullptr || api->context < 0 || static_cast<int>(call->getNumArgs()) <= api->context) {
    return;
  }
  const FunctionDecl* fn = enclosing_function(call, ctx);
  if (fn == nullptr) return;
  const Expr* context = strip(call->getArg(api->context));
  const VarDecl* var = nullptr;
  std::string how;
  if (const auto* unary = dyn_cast<UnaryOperator>(context);
      unary && unary->getOpcode() == UO_AddrOf) {
    var = local_var(unary->getSubExpr());
    how = "the address of a local";
  } else if (const VarDecl* array = local_var(context); array && array->getType()->isArrayType()) {
    var = array;
    how = "a local array";
  } else if (const auto* member = dyn_cast<CXXMemberCallExpr>(context);
             member && name_of(member->getMethodDecl()) == "get") {
    const VarDecl* owner = local_var(member->getImplicitObjectArgument());
    if (owner != nullptr && is_class(owner->getType()->getAsCXXRecordDecl(),
                                     std::vector<llvm::StringRef>(state_->smart_pointers.begin(),
                                                                  state_->smart_pointers.end()))) {
      if (ownership_handed_over(fn, owner, call->getEndLoc(), ctx)) return;
      var = owner;
      how = "get() of a local smart pointer";
    }
  }
  if (var == nullptr) return;
  if (waited_for_after(fn, call->getEndLoc(), ctx)) return;  // the worker ends first
  if (!first_report(context->getBeginLoc(), *result.SourceManager)) return;
  diag(context->getBeginLoc(),
       "freed parameter: the %0 context is %1 ('%2'), which dies when '%3' returns while the "
       "%4 may still read it (race lab freed_parameter; seed 002, CThreadParams/MainHR); move "
       "the state into the worker: modref::start_detached and modref::submit copy their "
       "arguments into a reference-counted context")
      << (api->thread ? "thread's" : "callback's") << how << var->getName() << fn->getNameAsString()
      << (api->thread ? "thread" : "callback");
}

}  // namespace modref_tidy
