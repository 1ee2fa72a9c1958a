// common.cpp — see common.h.
#include "common.h"

#include "clang/AST/ExprCXX.h"

namespace modref_tidy {
using namespace clang;

namespace {
constexpr int64_t kInfinite = 0xFFFFFFFF;
bool is_infinite(const Expr* e, const ASTContext& ctx) {
  const std::optional<int64_t> v = constant_value(e, ctx);
  return v && (*v == kInfinite || *v == -1);
}
bool is_false(const Expr* e, const ASTContext& ctx) {
  const std::optional<int64_t> v = constant_value(e, ctx);
  return v && *v == 0;
}
}  // namespace

bool waits_for_completion(const call_site& s, const ASTContext& ctx) {
  const auto* call = dyn_cast_or_null<CallExpr>(s.expr);
  if (call == nullptr) return false;
  const FunctionDecl* fn = s.callee;
  const unsigned n = call->getNumArgs();
  if (is_api(fn, {"WaitForSingleObject", "WaitForSingleObjectEx"}) && n >= 2) {
    return is_infinite(call->getArg(1), ctx);
  }
  if (is_api(fn, {"WaitForMultipleObjects", "WaitForMultipleObjectsEx"}) && n >= 4) {
    return !is_false(call->getArg(2), ctx) && is_infinite(call->getArg(3), ctx);
  }
  if (is_api(fn, {"WaitForThreadpoolWorkCallbacks", "WaitForThreadpoolTimerCallbacks",
                  "WaitForThreadpoolWaitCallbacks", "WaitForThreadpoolIoCallbacks",
                  "CloseThreadpoolCleanupGroupMembers"}) &&
      n >= 2) {
    return is_false(call->getArg(1), ctx);
  }
  if (const auto* member = dyn_cast<CXXMemberCallExpr>(call)) {
    return name_of(member->getMethodDecl()) == "join";
  }
  return false;
}

const Expr* strip(const Expr* e) {
  for (int guard = 0; e != nullptr && guard < 16; ++guard) {
    const Expr* next = e->IgnoreParens()->IgnoreImplicit();
    if (const auto* cast = dyn_cast<ExplicitCastExpr>(next)) next = cast->getSubExpr();
    if (const auto* cast = dyn_cast<ImplicitCastExpr>(next)) next = cast->getSubExpr();
    if (next == e) return e;
    e = next;
  }
  return e;
}

}  // namespace modref_tidy
