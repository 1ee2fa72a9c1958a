// analysis.cpp — see analysis.h.
#include "analysis.h"

#include <deque>

#include "clang/AST/ParentMapContext.h"
#include "clang/AST/RecursiveASTVisitor.h"
#include "clang/Basic/SourceManager.h"
#include "clang/Basic/TargetInfo.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace modref_tidy {
using namespace clang;

llvm::StringRef name_of(const NamedDecl* decl) {
  if (decl == nullptr || !decl->getDeclName().isIdentifier()) return {};
  return decl->getName();
}

bool is_api(const FunctionDecl* fn, llvm::ArrayRef<llvm::StringRef> names) {
  if (fn == nullptr) return false;
  const DeclContext* dc = fn->getDeclContext()->getRedeclContext();
  if (!dc->isTranslationUnit()) return false;
  const llvm::StringRef name = name_of(fn);
  if (name.empty()) return false;
  for (llvm::StringRef candidate : names) {
    if (name == candidate) return true;
  }
  return false;
}

bool calls_api(const CallExpr* call, llvm::ArrayRef<llvm::StringRef> names) {
  return call != nullptr && is_api(call->getDirectCallee(), names);
}

bool in_modref_namespace(const Decl* decl) {
  for (const DeclContext* dc = decl ? decl->getDeclContext() : nullptr; dc; dc = dc->getParent()) {
    if (const auto* ns = dyn_cast<NamespaceDecl>(dc)) {
      if (ns->getDeclContext()->getRedeclContext()->isTranslationUnit() &&
          name_of(ns) == "modref") {
        return true;
      }
    }
  }
  return false;
}

std::string qualified_name(const NamedDecl* decl) {
  if (decl == nullptr) return {};
  std::string out;
  llvm::raw_string_ostream os(out);
  PrintingPolicy policy(decl->getASTContext().getLangOpts());
  policy.SuppressInlineNamespace = true;
  decl->printQualifiedName(os, policy);
  return os.str();
}

bool is_class(const CXXRecordDecl* record, llvm::ArrayRef<llvm::StringRef> qualified_names) {
  if (record == nullptr) return false;
  const NamedDecl* named = record;
  if (const auto* spec = dyn_cast<ClassTemplateSpecializationDecl>(record)) {
    named = spec->getSpecializedTemplate();
  }
  const std::string name = qualified_name(named);
  for (llvm::StringRef candidate : qualified_names) {
    if (name == candidate) return true;
  }
  return false;
}

const FunctionDecl* function_from_argument(const Expr* arg) {
  const Expr* e = arg;
  for (int guard = 0; e != nullptr && guard < 16; ++guard) {
    e = e->IgnoreParens()->IgnoreImplicit();
    if (const auto* cast = dyn_cast<ExplicitCastExpr>(e)) {
      e = cast->getSubExpr();
      continue;
    }
    if (const auto* cast = dyn_cast<ImplicitCastExpr>(e)) {
      e = cast->getSubExpr();
      continue;
    }
    if (const auto* unary = dyn_cast<UnaryOperator>(e)) {
      if (unary->getOpcode() == UO_AddrOf || unary->getOpcode() == UO_Plus) {
        e = unary->getSubExpr();
        continue;
      }
      return nullptr;
    }
    if (const auto* ref = dyn_cast<DeclRefExpr>(e)) return dyn_cast<FunctionDecl>(ref->getDecl());
    if (const auto* member = dyn_cast<MemberExpr>(e)) {
      return dyn_cast<FunctionDecl>(member->getMemberDecl());  // static member function
    }
    if (const auto* call = dyn_cast<CXXMemberCallExpr>(e)) {
      // A lambda converted to a function pointer: lambda.operator void (*)(...)()
      if (isa_and_nonnull<CXXConversionDecl>(call->getMethodDecl())) {
        e = call->getImplicitObjectArgument();
        continue;
      }
      return nullptr;
    }
    if (const auto* temp = dyn_cast<MaterializeTemporaryExpr>(e)) {
      e = temp->getSubExpr();
      continue;
    }
    if (const auto* lambda = dyn_cast<LambdaExpr>(e)) return lambda->getCallOperator();
    return nullptr;
  }
  return nullptr;
}

bool is_null(const Expr* e, ASTContext& ctx) {
  return e != nullptr && e->IgnoreParenImpCasts()->isNullPointerConstant(
                             ctx, Expr::NPC_ValueDependentIsNotNull) != Expr::NPCK_NotNull;
}

std::optional<int64_t> constant_value(const Expr* e, const ASTContext& ctx) {
  if (e == nullptr || e->isValueDependent() || e->isTypeDependent()) return std::nullopt;
  Expr::EvalResult result;
  if (!e->EvaluateAsInt(result, ctx)) return std::nullopt;
  return result.Val.getInt().getExtValue();
}

bool is_pin_call(const CallExpr* call, const ASTContext& ctx,
                 llvm::ArrayRef<std::string> pin_functions) {
  const FunctionDecl* fn = call->getDirectCallee();
  if (fn == nullptr) return false;
  if (is_api(fn, {"LoadLibraryA", "LoadLibraryW", "LoadLibraryExA", "LoadLibraryExW",
                  "LoadPackagedLibrary"})) {
    return true;
  }
  if (is_api(fn, {"GetModuleHandleExA", "GetModuleHandleExW"}) && call->getNumArgs() >= 1) {
    constexpr int64_t kUnchangedRefcount = 0x2;  // GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT
    const std::optional<int64_t> flags = constant_value(call->getArg(0), ctx);
    return !flags || (*flags & kUnchangedRefcount) == 0;
  }
  const std::string name = qualified_name(fn);
  for (const std::string& pin : pin_functions) {
    if (name == pin) return true;
  }
  return false;
}

namespace {

// Collects the calls of one function body. Lambda bodies are separate functions: a call to the
// lambda is a call to its operator(), found through the CallExpr like any other.
class call_collector : public RecursiveASTVisitor<call_collector> {
 public:
  explicit call_collector(std::vector<call_site>& out) : out_(out) {}
  bool shouldVisitTemplateInstantiations() const { return true; }
  bool shouldVisitImplicitCode() const { return true; }
  bool TraverseLambdaExpr(LambdaExpr*) { return true; }

  bool VisitCallExpr(CallExpr* call) {
    if (const FunctionDecl* fn = call->getDirectCallee()) add(fn, call, call->getBeginLoc());
    return true;
  }
  bool VisitCXXConstructExpr(CXXConstructExpr* construct) {
    add(construct->getConstructor(), construct, construct->getBeginLoc());
    return true;
  }
  bool VisitCXXDeleteExpr(CXXDeleteExpr* del) {
    if (const CXXRecordDecl* record = del->getDestroyedType()->getAsCXXRecordDecl()) {
      if (record->hasDefinition()) add(record->getDestructor(), del, del->getBeginLoc());
    }
    return true;
  }
  bool VisitCXXBindTemporaryExpr(CXXBindTemporaryExpr* bind) {
    add(bind->getTemporary()->getDestructor(), bind, bind->getBeginLoc());
    return true;
  }
  bool VisitVarDecl(VarDecl* var) {
    if (!var->hasLocalStorage() || isa<ParmVarDecl>(var)) return true;
    if (const CXXRecordDecl* record = var->getType()->getAsCXXRecordDecl()) {
      if (record->hasDefinition()) add(record->getDestructor(), nullptr, var->getLocation());
    }
    return true;
  }

 private:
  void add(const FunctionDecl* fn, const Expr* e, SourceLocation loc) {
    if (fn != nullptr) out_.push_back({fn, e, loc});
  }
  std::vector<call_site>& out_;
};

}  // namespace

std::vector<call_site> calls_made_by(const FunctionDecl* fn) {
  std::vector<call_site> out;
  if (fn == nullptr) return out;
  const FunctionDecl* definition = nullptr;
  if (fn->hasBody(definition) && definition->getBody() != nullptr) {
    call_collector collector(out);
    collector.TraverseStmt(definition->getBody());
    if (const auto* ctor = dyn_cast<CXXConstructorDecl>(definition)) {
      for (const CXXCtorInitializer* init : ctor->inits()) {
        if (init->getInit()) collector.TraverseStmt(init->getInit());
      }
    }
  }
  // A destructor also runs the destructors of the members and bases.
  if (const auto* dtor = dyn_cast<CXXDestructorDecl>(fn)) {
    const CXXRecordDecl* record = dtor->getParent();
    if (record->hasDefinition()) {
      for (const FieldDecl* field : record->fields()) {
        QualType type = field->getType();
        if (const auto* array = field->getASTContext().getAsArrayType(type)) {
          type = array->getElementType();
        }
        if (const CXXRecordDecl* member = type->getAsCXXRecordDecl()) {
          if (member->hasDefinition() && member->getDestructor()) {
            out.push_back({member->getDestructor(), nullptr, field->getLocation()});
          }
        }
      }
      for (const CXXBaseSpecifier& base : record->bases()) {
        if (const CXXRecordDecl* b = base.getType()->getAsCXXRecordDecl()) {
          if (b->hasDefinition() && b->getDestructor()) {
            out.push_back({b->getDestructor(), nullptr, base.getBeginLoc()});
          }
        }
      }
    }
  }
  return out;
}

std::optional<std::vector<call_site>> find_reachable(
    const FunctionDecl* root, llvm::function_ref<bool(const call_site&)> match,
    const walk_options& options, llvm::function_ref<bool(const FunctionDecl*)> stop) {
  if (root == nullptr) return std::nullopt;
  struct node {
    const FunctionDecl* fn;
    int parent;  // index into `nodes` of the caller, -1 for root
    call_site via;
    unsigned depth;
  };
  std::vector<node> nodes{{root->getCanonicalDecl(), -1, {}, 0}};
  llvm::DenseSet<const FunctionDecl*> seen{root->getCanonicalDecl()};
  const SourceManager& sm = root->getASTContext().getSourceManager();
  auto path_to = [&](int index, const call_site& last) {
    std::vector<call_site> path{last};
    for (int i = index; nodes[i].parent >= 0; i = nodes[i].parent) path.push_back(nodes[i].via);
    std::reverse(path.begin(), path.end());
    return path;
  };
  for (size_t i = 0; i < nodes.size(); ++i) {
    const node current = nodes[i];
    for (const call_site& site : calls_made_by(current.fn)) {
      if (match(site)) return path_to(static_cast<int>(i), site);
      if (current.depth + 1 >= options.max_depth) continue;
      const FunctionDecl* callee = site.callee->getCanonicalDecl();
      if (!seen.insert(callee).second) continue;
      if (!options.enter_modref && in_modref_namespace(callee)) continue;
      if (!options.enter_system && sm.isInSystemHeader(callee->getLocation())) continue;
      if (stop && stop(callee)) continue;
      nodes.push_back({callee, static_cast<int>(i), site, current.depth + 1});
    }
  }
  return std::nullopt;
}

std::vector<std::string> split_list(llvm::StringRef list) {
  llvm::SmallVector<llvm::StringRef, 8> parts;
  list.split(parts, ';', -1, false);
  std::vector<std::string> out;
  for (llvm::StringRef part : parts) {
    part = part.trim();
    if (!part.empty()) out.push_back(part.str());
  }
  return out;
}

namespace {

bool macro_matches(llvm::StringRef macro, llvm::StringRef pattern) {
  if (pattern.startswith("*")) return macro.endswith(pattern.drop_front());
  if (pattern.endswith("*")) return macro.startswith(pattern.drop_back());
  return macro == pattern;
}

bool defines_dll_entry(const DeclContext* dc, const SourceManager& sm) {
  for (const Decl* decl : dc->decls()) {
    if (const auto* ns = dyn_cast<NamespaceDecl>(decl)) {
      if (defines_dll_entry(ns, sm)) return true;
      continue;
    }
    if (const auto* linkage = dyn_cast<LinkageSpecDecl>(decl)) {
      if (defines_dll_entry(linkage, sm)) return true;
      continue;
    }
    if (const auto* fn = dyn_cast<FunctionDecl>(decl)) {
      if (!fn->isThisDeclarationADefinition()) continue;
      if (is_api(fn, {"DllMain"})) return true;
      if (fn->hasAttr<DLLExportAttr>() && sm.isInMainFile(fn->getLocation())) return true;
      continue;
    }
    if (const auto* var = dyn_cast<VarDecl>(decl)) {
      if (var->hasAttr<DLLExportAttr>() && var->isThisDeclarationADefinition() &&
          sm.isInMainFile(var->getLocation())) {
        return true;
      }
      continue;
    }
    if (const auto* record = dyn_cast<CXXRecordDecl>(decl)) {
      if (record->hasAttr<DLLExportAttr>() && record->isThisDeclarationADefinition() &&
          sm.isInMainFile(record->getLocation())) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

bool module_kind_cache::is_dll(ASTContext& ctx, const module_kind_options& options) {
  if (options.module_kind == "dll") return true;
  if (options.module_kind == "exe") return false;
  if (cached_for_ == &ctx) return cached_;
  cached_for_ = &ctx;
  cached_ = defines_dll_entry(ctx.getTranslationUnitDecl(), ctx.getSourceManager());
  if (!cached_ && pp_ != nullptr) {
    const std::vector<std::string> patterns = split_list(options.dll_macros);
    for (const auto& macro : pp_->macros()) {
      const llvm::StringRef name = macro.first->getName();
      if (!pp_->isMacroDefined(name)) continue;
      for (const std::string& pattern : patterns) {
        if (macro_matches(name, pattern)) {
          cached_ = true;
          return cached_;
        }
      }
    }
  }
  return cached_;
}

bool targets_mingw(const ASTContext& ctx) {
  return ctx.getTargetInfo().getTriple().isWindowsGNUEnvironment();
}

const FunctionDecl* enclosing_function(const Stmt* s, ASTContext& ctx) {
  DynTypedNodeList parents = ctx.getParents(*s);
  for (int guard = 0; guard < 256 && !parents.empty(); ++guard) {
    const DynTypedNode& parent = parents[0];
    if (const auto* fn = parent.get<FunctionDecl>()) return fn;
    if (const auto* lambda = parent.get<LambdaExpr>()) return lambda->getCallOperator();
    parents = ctx.getParents(parent);
  }
  return nullptr;
}

}  // namespace modref_tidy
