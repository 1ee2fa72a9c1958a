// dllmain_check.cpp — modref-wait-in-dllmain.
#include "checks.h"
#include "common.h"
#include "clang/ASTMatchers/ASTMatchFinder.h"
#include "clang/ASTMatchers/ASTMatchers.h"

namespace modref_tidy {
using namespace clang;
using namespace clang::ast_matchers;

namespace {

// What must not happen under the loader lock: a wait that is not a poll, a join, a load or an
// unload. Returns the name to print, or "" when `s` is harmless.
std::string blocking_call(const call_site& s, const ASTContext& ctx) {
  const auto* call = dyn_cast_or_null<CallExpr>(s.expr);
  if (call == nullptr) return {};
  const FunctionDecl* fn = s.callee;
  const unsigned n = call->getNumArgs();
  auto not_zero = [&](unsigned i) {
    if (i >= n) return true;
    const std::optional<int64_t> v = constant_value(call->getArg(i), ctx);
    return !v || *v != 0;
  };
  if ((is_api(fn, {"WaitForSingleObject", "WaitForSingleObjectEx"}) && not_zero(1)) ||
      (is_api(fn, {"WaitForMultipleObjects", "WaitForMultipleObjectsEx"}) && not_zero(3)) ||
      (is_api(fn, {"MsgWaitForMultipleObjects", "MsgWaitForMultipleObjectsEx"}) && not_zero(2)) ||
      (is_api(fn, {"SignalObjectAndWait"}) && not_zero(2)) ||
      is_api(fn,
             {"LoadLibraryA", "LoadLibraryW", "LoadLibraryExA", "LoadLibraryExW", "FreeLibrary"})) {
    return name_of(fn).str();
  }
  if (const auto* member = dyn_cast<CXXMemberCallExpr>(call)) {
    const CXXMethodDecl* method = member->getMethodDecl();
    if (name_of(method) == "join" &&
        is_class(method->getParent(), {"std::thread", "std::jthread", "boost::thread"})) {
      return qualified_name(method);
    }
  }
  return {};
}

}  // namespace

struct wait_in_dllmain_check::state {};

wait_in_dllmain_check::wait_in_dllmain_check(llvm::StringRef name, tidy::ClangTidyContext* context)
    : modref_check(name, context) {}
void wait_in_dllmain_check::storeOptions(tidy::ClangTidyOptions::OptionMap& options) {
  modref_check::storeOptions(options);
}
void wait_in_dllmain_check::onEndOfTranslationUnit() {}

void wait_in_dllmain_check::registerMatchers(MatchFinder* finder) {
  finder->addMatcher(functionDecl(hasName("::DllMain"), isDefinition()).bind("dllmain"), this);
  finder->addMatcher(varDecl(hasGlobalStorage(), unless(hasThreadStorageDuration()),
                             unless(isExpansionInSystemHeader()), isDefinition())
                         .bind("global"),
                     this);
}

void wait_in_dllmain_check::check(const MatchFinder::MatchResult& result) {
  ASTContext& ctx = *result.Context;
  const SourceManager& sm = *result.SourceManager;
  walk_options options;
  options.max_depth = 5;
  auto match = [&](const call_site& s) { return !blocking_call(s, ctx).empty(); };
  if (const auto* dllmain = result.Nodes.getNodeAs<FunctionDecl>("dllmain")) {
    for (const call_site& site : calls_made_by(dllmain)) {
      std::vector<call_site> path;
      if (match(site)) {
        path.push_back(site);
      } else if (site.callee->hasBody() && !in_modref_namespace(site.callee)) {
        if (auto found = find_reachable(site.callee, match, options)) {
          path.push_back(site);
          path.insert(path.end(), found->begin(), found->end());
        }
      }
      if (path.empty() || !first_report(site.loc, sm)) continue;
      diag(site.loc,
           "loader-lock deadlock: DllMain %0 %1 while it holds the loader lock, and the thread "
           "or module it waits for needs that lock to exit or load (race lab join_in_dllmain; "
           "OpenBLAS PR #2350/#2362); stop and join workers from an explicit shutdown export "
           "before FreeLibrary, or hold them in modref::jthread, whose destructor refuses to "
           "join under the loader lock")
          << (path.size() == 1 ? "calls" : "reaches") << blocking_call(path.back(), ctx);
      for (size_t i = 1; i < path.size(); ++i) {
        diag(path[i].loc, "calls '%0' here", DiagnosticIDs::Note) << qualified_name(path[i].callee);
      }
    }
    return;
  }
  const auto* var = result.Nodes.getNodeAs<VarDecl>("global");
  if (var == nullptr) return;
  QualType type = var->getType();
  if (const ArrayType* array = ctx.getAsArrayType(type)) type = array->getElementType();
  const CXXRecordDecl* record = type->getAsCXXRecordDecl();
  if (record == nullptr || !record->hasDefinition() || record->hasTrivialDestructor()) return;
  if (in_modref_namespace(var) || in_modref_namespace(record) || !is_dll(ctx)) return;
  const auto path = find_reachable(record->getDestructor(), match, options);
  if (!path || !first_report(var->getLocation(), sm)) return;
  diag(var->getLocation(),
       "loader-lock deadlock: the destructor of DLL global '%0' reaches %1, and DLL globals are "
       "destroyed inside DllMain(DLL_PROCESS_DETACH): on FreeLibrary the thread it waits for "
       "needs the loader lock to exit, at process exit that thread was already killed (race lab "
       "join_in_dllmain, global_thread_at_exit; google/pthreadpool PR #92); stop the worker from "
       "an explicit shutdown call, or use modref::jthread, which neither waits at exit nor under "
       "the loader lock")
      << var->getName() << blocking_call(path->back(), ctx);
  for (const call_site& step : *path) {
    diag(step.loc, "calls '%0' here", DiagnosticIDs::Note) << qualified_name(step.callee);
  }
}

}  // namespace modref_tidy
