// exit_checks.cpp — modref-free-library-then-exit, modref-exit-thread-not-last.
#include "checks.h"
#include "common.h"
#include "clang/AST/ParentMapContext.h"
#include "clang/ASTMatchers/ASTMatchFinder.h"
#include "clang/ASTMatchers/ASTMatchers.h"
#include "clang/Lex/Lexer.h"
#include "llvm/ADT/DenseSet.h"

namespace modref_tidy {
using namespace clang;
using namespace clang::ast_matchers;

namespace {

// The statement that holds `call` as a full expression and whose parent is a CompoundStmt, with
// that CompoundStmt; null when the call is nested in something else (a condition, an argument).
std::pair<const Stmt*, const CompoundStmt*> statement_of(const Expr* call, ASTContext& ctx) {
  const Stmt* current = call;
  for (int guard = 0; guard < 16; ++guard) {
    DynTypedNodeList parents = ctx.getParents(*current);
    if (parents.empty()) return {nullptr, nullptr};
    if (const auto* compound = parents[0].get<CompoundStmt>()) return {current, compound};
    const auto* parent = parents[0].get<Expr>();
    if (parent == nullptr) return {nullptr, nullptr};
    if (!isa<ExprWithCleanups, ImplicitCastExpr, ParenExpr, CStyleCastExpr, CXXStaticCastExpr>(
            parent)) {
      return {nullptr, nullptr};
    }
    current = parent;
  }
  return {nullptr, nullptr};
}

// The statement after `s` in `compound`, skipping empty statements; null when `s` is the last.
const Stmt* next_statement(const Stmt* s, const CompoundStmt* compound) {
  bool found = false;
  for (const Stmt* child : compound->body()) {
    if (found && !isa<NullStmt>(child)) return child;
    if (child == s) found = true;
  }
  return nullptr;
}

const CallExpr* as_call_to(const Stmt* s, llvm::ArrayRef<llvm::StringRef> names) {
  const auto* e = dyn_cast_or_null<Expr>(s);
  const auto* call = e ? dyn_cast<CallExpr>(strip(e)) : nullptr;
  return calls_api(call, names) ? call : nullptr;
}

// True when `module` names the module this code is in: &__ImageBase, or a local whose address
// `fn` passed to GetModuleHandleEx.
bool is_own_module(const Expr* module, const FunctionDecl* fn) {
  const Expr* e = strip(module);
  if (const auto* unary = dyn_cast<UnaryOperator>(e); unary && unary->getOpcode() == UO_AddrOf) {
    const auto* ref = dyn_cast<DeclRefExpr>(strip(unary->getSubExpr()));
    return ref && name_of(ref->getDecl()) == "__ImageBase";
  }
  const auto* ref = dyn_cast<DeclRefExpr>(e);
  const auto* var = ref ? dyn_cast<VarDecl>(ref->getDecl()) : nullptr;
  if (var == nullptr || fn == nullptr) return false;
  for (const call_site& s : calls_made_by(fn)) {
    const auto* call = dyn_cast_or_null<CallExpr>(s.expr);
    if (call == nullptr || !is_api(s.callee, {"GetModuleHandleExA", "GetModuleHandleExW"}) ||
        call->getNumArgs() < 3) {
      continue;
    }
    const auto* out = dyn_cast<UnaryOperator>(strip(call->getArg(2)));
    if (out == nullptr || out->getOpcode() != UO_AddrOf) continue;
    const auto* target = dyn_cast<DeclRefExpr>(strip(out->getSubExpr()));
    if (target != nullptr && target->getDecl() == var) return true;
  }
  return false;
}

std::string source_text(SourceRange range, const SourceManager& sm, const LangOptions& lang) {
  return Lexer::getSourceText(CharSourceRange::getTokenRange(range), sm, lang).str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// modref-free-library-then-exit

struct free_library_then_exit_check::state {
  struct candidate {
    const CallExpr* free_call;
    const Stmt* next;  // null: the last statement of the function
    const FunctionDecl* fn;
    ASTContext* ctx;
  };
  std::vector<candidate> candidates;
  llvm::DenseSet<const FunctionDecl*> workers;  // thread procedures and callbacks of this TU
};

free_library_then_exit_check::free_library_then_exit_check(llvm::StringRef name,
                                                           tidy::ClangTidyContext* context)
    : modref_check(name, context), state_(std::make_shared<state>()) {}
void free_library_then_exit_check::storeOptions(tidy::ClangTidyOptions::OptionMap& options) {
  modref_check::storeOptions(options);
}

void free_library_then_exit_check::registerMatchers(MatchFinder* finder) {
  finder->addMatcher(callExpr(callee(functionDecl(hasName("::FreeLibrary")))).bind("free"), this);
  finder->addMatcher(
      callExpr(callee(functionDecl(hasAnyName(
                   "::CreateThread", "::_beginthreadex", "::_beginthread",
                   "::TrySubmitThreadpoolCallback", "::CreateThreadpoolWork",
                   "::CreateThreadpoolTimer", "::CreateThreadpoolWait", "::CreateThreadpoolIo",
                   "::QueueUserWorkItem", "::RegisterWaitForSingleObject",
                   "::CreateTimerQueueTimer", "::BindIoCompletionCallback"))))
          .bind("async"),
      this);
}

void free_library_then_exit_check::check(const MatchFinder::MatchResult& result) {
  ASTContext& ctx = *result.Context;
  if (const auto* call = result.Nodes.getNodeAs<CallExpr>("async")) {
    if (const async_api* api = async_api_of(call)) {
      if (const FunctionDecl* worker = function_from_argument(call->getArg(api->callback))) {
        state_->workers.insert(worker->getCanonicalDecl());
      }
    }
    return;
  }
  const auto* call = result.Nodes.getNodeAs<CallExpr>("free");
  if (call == nullptr || call->getNumArgs() != 1 || !is_dll(ctx)) return;
  const FunctionDecl* fn = enclosing_function(call, ctx);
  if (!is_own_module(call->getArg(0), fn)) return;
  const auto [statement, compound] = statement_of(call, ctx);
  if (statement == nullptr) return;
  const Stmt* next = next_statement(statement, compound);
  if (next == nullptr && compound != fn->getBody()) return;  // the block ends, the function goes on
  state_->candidates.push_back({call, next, fn, &ctx});
}

void free_library_then_exit_check::onEndOfTranslationUnit() {
  for (const state::candidate& c : state_->candidates) {
    const SourceManager& sm = c.ctx->getSourceManager();
    const CallExpr* exit = as_call_to(c.next, {"ExitThread", "_endthreadex", "_endthread"});
    const bool worker = state_->workers.contains(c.fn->getCanonicalDecl());
    if (exit == nullptr && !worker) continue;
    if (!first_report(c.free_call->getBeginLoc(), sm)) continue;
    const llvm::StringRef then = exit != nullptr           ? name_of(exit->getDirectCallee())
                                 : c.next == nullptr       ? "the return of the thread procedure"
                                 : isa<ReturnStmt>(c.next) ? "a return"
                                                           : "more code";
    auto d = diag(c.free_call->getBeginLoc(),
                  "unload race: FreeLibrary of the module this code is in, followed by %0: if "
                  "that was the last reference the code after it is already unmapped (race lab "
                  "free_then_exit_thread; mlghuskie/NoBastian PR #3); use "
                  "FreeLibraryAndExitThread as the thread's last statement, as modref::thread "
                  "does")
             << then;
    // Mechanical and safe only for `FreeLibrary(m); ExitThread(code);`, both in one file, no
    // macros: FreeLibraryAndExitThread(m, code) does the same in one call.
    if (exit != nullptr && exit->getNumArgs() == 1 && c.free_call->getBeginLoc().isFileID() &&
        exit->getEndLoc().isFileID()) {
      const LangOptions& lang = c.ctx->getLangOpts();
      const std::string callee = source_text(c.free_call->getCallee()->getSourceRange(), sm, lang);
      const std::string module = source_text(c.free_call->getArg(0)->getSourceRange(), sm, lang);
      const std::string code = source_text(exit->getArg(0)->getSourceRange(), sm, lang);
      if (llvm::StringRef(callee).endswith("FreeLibrary") && !module.empty() && !code.empty()) {
        d << FixItHint::CreateReplacement(
            CharSourceRange::getTokenRange(c.free_call->getBeginLoc(), exit->getEndLoc()),
            callee + "AndExitThread(" + module + ", " + code + ")");
      }
    }
  }
  state_->candidates.clear();
  state_->workers.clear();
}

// ---------------------------------------------------------------------------------------------
// modref-exit-thread-not-last

struct exit_thread_not_last_check::state {};

exit_thread_not_last_check::exit_thread_not_last_check(llvm::StringRef name,
                                                       tidy::ClangTidyContext* context)
    : modref_check(name, context) {}
void exit_thread_not_last_check::storeOptions(tidy::ClangTidyOptions::OptionMap& options) {
  modref_check::storeOptions(options);
}
void exit_thread_not_last_check::onEndOfTranslationUnit() {}

void exit_thread_not_last_check::registerMatchers(MatchFinder* finder) {
  finder->addMatcher(
      callExpr(callee(functionDecl(hasName("::FreeLibraryAndExitThread")))).bind("call"), this);
}

namespace {

bool destructor_matters(QualType type, const ASTContext& ctx) {
  if (const ArrayType* array = ctx.getAsArrayType(type)) type = array->getElementType();
  const CXXRecordDecl* record = type->getAsCXXRecordDecl();
  return record != nullptr && record->hasDefinition() && !record->hasTrivialDestructor();
}

}  // namespace

void exit_thread_not_last_check::check(const MatchFinder::MatchResult& result) {
  ASTContext& ctx = *result.Context;
  const auto* call = result.Nodes.getNodeAs<CallExpr>("call");
  const SourceManager& sm = *result.SourceManager;
  if (call == nullptr || !first_report(call->getBeginLoc(), sm)) return;
  // (a) A statement after the call in the same block never runs.
  const auto [statement, compound] = statement_of(call, ctx);
  if (statement != nullptr) {
    if (const Stmt* next = next_statement(statement, compound)) {
      diag(next->getBeginLoc(),
           "this statement never runs: FreeLibraryAndExitThread does not return, and code "
           "written after it suggests cleanup that is skipped (race lab free_then_exit_thread; "
           "docs/design.md, the thread contract); move it before the call: "
           "FreeLibraryAndExitThread must be the thread's last act");
    }
  }
  // (b) Locals with non-trivial destructors alive at the call: their destructors never run (and
  // if they did, they would run after the module reference is gone).
  const Stmt* child = call;
  for (int guard = 0; guard < 256; ++guard) {
    DynTypedNodeList parents = ctx.getParents(*child);
    if (parents.empty()) break;
    const DynTypedNode& parent = parents[0];
    if (const auto* fn = parent.get<FunctionDecl>()) {
      for (const ParmVarDecl* param : fn->parameters()) {
        if (destructor_matters(param->getType(), ctx)) {
          diag(param->getLocation(),
               "parameter '%0' has a destructor that never runs: it is alive at the "
               "FreeLibraryAndExitThread call (docs/design.md, the thread contract: WIL's "
               "reverted attempt left its context undestroyed the same way); take it by "
               "pointer or move it into a scope closed before the call, as modref::thread does")
              << param->getName();
          diag(call->getBeginLoc(), "the thread ends here", DiagnosticIDs::Note);
        }
      }
      break;
    }
    if (parent.get<LambdaExpr>() != nullptr) break;
    const auto* stmt = parent.get<Stmt>();
    if (stmt == nullptr) break;
    if (const auto* block = dyn_cast<CompoundStmt>(stmt)) {
      for (const Stmt* s : block->body()) {
        if (s == child) break;
        const auto* decls = dyn_cast<DeclStmt>(s);
        if (decls == nullptr) continue;
        for (const Decl* d : decls->decls()) {
          const auto* var = dyn_cast<VarDecl>(d);
          if (var == nullptr || !var->hasLocalStorage() ||
              !destructor_matters(var->getType(), ctx)) {
            continue;
          }
          diag(var->getLocation(),
               "'%0' is alive at FreeLibraryAndExitThread, so its destructor never runs (the "
               "thread ends inside the call), and had it run it would run after the module "
               "reference is gone (docs/design.md, the thread contract; WIL's reverted attempt "
               "left its context undestroyed this way); close a scope around it before the "
               "call, as modref::thread's trampoline does")
              << var->getName();
          diag(call->getBeginLoc(), "the thread ends here", DiagnosticIDs::Note);
        }
      }
    }
    child = stmt;
  }
}

}  // namespace modref_tidy
