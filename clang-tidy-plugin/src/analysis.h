// analysis.h — what the modref-* checks share: Win32 name matching, "is this translation unit DLL
// code?", resolving a thread procedure or callback argument to its function, and a bounded walk
// over the calls a function makes inside the translation unit.
//
// The walk is deliberately small: it follows direct calls, constructors, the destructors of locals,
// temporaries, deleted objects, members and bases, to a fixed depth. It never leaves the
// translation unit (a function without a body ends the path) and, when asked, does not descend
// into namespace modref (the library's own code is the reference implementation of every pattern
// and is tested by the race lab; see docs/design.md, "The clang-tidy plugin").
#ifndef MODREF_TIDY_ANALYSIS_H
#define MODREF_TIDY_ANALYSIS_H

#include <optional>
#include <string>
#include <vector>

#include "clang/AST/ASTContext.h"
#include "clang/AST/Decl.h"
#include "clang/AST/DeclCXX.h"
#include "clang/AST/Expr.h"
#include "clang/AST/ExprCXX.h"
#include "clang/Lex/Preprocessor.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"

namespace modref_tidy {

// The name of a function, or "" for operators, constructors and other non-identifiers.
llvm::StringRef name_of(const clang::NamedDecl* decl);

// True when `fn` is a free function (global namespace or extern "C") named one of `names`: the
// Win32 and CRT functions are never members or in a namespace.
bool is_api(const clang::FunctionDecl* fn, llvm::ArrayRef<llvm::StringRef> names);

// True when the direct callee of `call` is the API `name` (see is_api).
bool calls_api(const clang::CallExpr* call, llvm::ArrayRef<llvm::StringRef> names);

// True when `decl` is inside namespace ::modref (at any depth).
bool in_modref_namespace(const clang::Decl* decl);

// True when `decl` is a member of, or is, one of the classes named (fully qualified, e.g.
// "std::thread"); matches class template specializations by their template's name.
bool is_class(const clang::CXXRecordDecl* record, llvm::ArrayRef<llvm::StringRef> qualified_names);
std::string qualified_name(const clang::NamedDecl* decl);

// The function that `arg` names when it is passed as a thread procedure or callback: a function
// (&f, f, casts of either, template specializations) or a lambda converted to a function pointer.
const clang::FunctionDecl* function_from_argument(const clang::Expr* arg);

// True when `e` is a null pointer constant (nullptr, NULL, 0).
bool is_null(const clang::Expr* e, clang::ASTContext& ctx);

// The integer value of `e` when it is a constant expression.
std::optional<int64_t> constant_value(const clang::Expr* e, const clang::ASTContext& ctx);

// True when `call` takes a module reference: LoadLibrary*, GetModuleHandleEx* without
// GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT, or one of the named pin functions.
bool is_pin_call(const clang::CallExpr* call, const clang::ASTContext& ctx,
                 llvm::ArrayRef<std::string> pin_functions);

// One call on a path: the function called and where it is called from.
struct call_site {
  const clang::FunctionDecl* callee = nullptr;
  const clang::Expr* expr = nullptr;  // the CallExpr, CXXConstructExpr, ... (may be null)
  clang::SourceLocation loc;
};

// Every call `fn` makes (see the file comment for what counts), in source order.
std::vector<call_site> calls_made_by(const clang::FunctionDecl* fn);

struct walk_options {
  unsigned max_depth = 5;
  bool enter_modref = false;  // descend into functions of namespace modref
  bool enter_system = true;   // descend into functions defined in system headers
};

// Searches the calls reachable from `root` for one that `match` accepts; returns the path (the
// first element is the call made by root itself, the last the matching call). `stop` may cut a
// function off the walk (for instance, one that checks for process termination).
std::optional<std::vector<call_site>> find_reachable(
    const clang::FunctionDecl* root, llvm::function_ref<bool(const call_site&)> match,
    const walk_options& options,
    llvm::function_ref<bool(const clang::FunctionDecl*)> stop = nullptr);

// The options every check shares (read with getLocalOrGlobal, so one `modref.ModuleKind`-style
// global setting applies to all): ModuleKind (auto | dll | exe) and DllMacros.
struct module_kind_options {
  std::string module_kind = "auto";
  std::string dll_macros = "_WINDLL;_USRDLL;*_EXPORTS";
};

// Decides, once per translation unit, whether it is DLL code. In "auto" mode a TU is DLL code when
// it defines DllMain, defines a dllexport function, variable or class, or has one of the DLL
// macros defined (CMake defines <target>_EXPORTS for SHARED libraries, MSBuild _WINDLL for DLL
// projects; a trailing or leading '*' matches any prefix or suffix).
class module_kind_cache {
 public:
  bool is_dll(clang::ASTContext& ctx, const module_kind_options& options);
  void set_preprocessor(clang::Preprocessor* pp) { pp_ = pp; }

 private:
  clang::Preprocessor* pp_ = nullptr;
  const clang::ASTContext* cached_for_ = nullptr;
  bool cached_ = false;
};

// True when the TU is compiled for MinGW (where _beginthread(ex) and std::thread do not pin).
bool targets_mingw(const clang::ASTContext& ctx);

// The function whose body contains `s` (walking parents), or null.
const clang::FunctionDecl* enclosing_function(const clang::Stmt* s, clang::ASTContext& ctx);

// Splits "a;b;c" into its non-empty, trimmed parts.
std::vector<std::string> split_list(llvm::StringRef list);

}  // namespace modref_tidy

#endif  // MODREF_TIDY_ANALYSIS_H
