// common.h — small helpers used by several check files.
#ifndef MODREF_TIDY_COMMON_H
#define MODREF_TIDY_COMMON_H

#include "analysis.h"
#include "apis.h"
#include "clang/AST/ASTContext.h"
#include "clang/Basic/SourceManager.h"

namespace modref_tidy {

// True when `s` is a call that waits until a thread or pool callback has finished: an INFINITE
// WaitForSingleObject(Ex), a wait-all INFINITE WaitForMultipleObjects(Ex), WaitForThreadpool*
// Callbacks(h, FALSE), CloseThreadpoolCleanupGroupMembers(g, FALSE, ...) or a join().
bool waits_for_completion(const call_site& s, const clang::ASTContext& ctx);

// True when `a` comes before `b` in the translation unit.
inline bool before(clang::SourceLocation a, clang::SourceLocation b,
                   const clang::SourceManager& sm) {
  return sm.isBeforeInTranslationUnit(sm.getFileLoc(a), sm.getFileLoc(b));
}

// The expression with parentheses, implicit nodes and explicit casts removed.
const clang::Expr* strip(const clang::Expr* e);

}  // namespace modref_tidy

#endif  // MODREF_TIDY_COMMON_H
