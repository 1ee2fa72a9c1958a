// <modref/detail/module_ref_linux.h> — the Linux/glibc half of <modref/module_ref.h>: a module is
// an ELF object loaded by glibc's dynamic loader (the program or a .so), a pin is one dlopen
// reference to it, and releasing the pin is dlclose. Include <modref/module_ref.h>, not this file;
// the contract, example, lifetime and thread-safety notes are in that header, and what differs
// from Windows is listed in docs/api.md ("Linux").
//
//   Windows                                   Linux/glibc
//   HMODULE                                   void* (a dlopen handle: glibc's struct link_map*)
//   GetModuleHandleExW(FROM_ADDRESS, a)       dladdr1(a, RTLD_DL_LINKMAP), then
//                                             dlopen(l_name, RTLD_NOW | RTLD_NOLOAD); for this
//                                             module the link_map is looked up once and kept
//   LoadLibraryExW(absolute path, safe flags) dlopen(absolute path, RTLD_NOW | RTLD_LOCAL), after
//                                             refusing a file that defines STB_GNU_UNIQUE symbols
//   FreeLibrary                               dlclose
//   __ImageBase                               a hidden variable of this module (g_module_state)
//   GET_MODULE_HANDLE_EX_FLAG_PIN             dlopen(..., RTLD_NOLOAD | RTLD_NODELETE)
//
// Thread safety / memory ordering: as <modref/module_ref.h>; the counters are relaxed atomics.
#ifndef MODREF_DETAIL_MODULE_REF_LINUX_H_
#define MODREF_DETAIL_MODULE_REF_LINUX_H_

#if !defined(__linux__)
#error "<modref/detail/module_ref_linux.h> is Linux-only"
#endif

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <unistd.h>

#if !defined(__GLIBC__)  // defined by the C library headers above
#error \
    "modref on Linux needs glibc (dladdr1, RTLD_NOLOAD, __cxa_thread_atexit_impl); musl's dlclose never unloads, so it needs no modref"
#endif

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "modref/detail/module_activity.h"
#include "modref/detail/module_lifecycle_linux.h"
#include "modref/posix_error.h"
#include "modref/refcount.h"

namespace modref {

// modref::native_module_handle: what module_ref::get() returns (HMODULE on Windows).
using native_module_handle = void*;

namespace detail {

// The module's own struct link_map*, looked up once (dladdr1 on a hidden variable of this module)
// and kept: it identifies "this module" for the pin counter. Null until the first lookup.
MODREF_DETAIL_HIDDEN inline constinit std::atomic<void*> g_this_module{nullptr};

// detail::dlerror_text(): the loader's message for the last failure on this thread, or a
// placeholder when it has none.
inline std::string dlerror_text() {
  const char* text = ::dlerror();
  return text != nullptr ? std::string(text) : std::string("(no dlerror message)");
}

// detail::module_of(address): the link_map of the ELF object that contains `address`, or null.
inline void* module_of(const void* address) noexcept {
  Dl_info info{};
  void* map = nullptr;
  if (::dladdr1(address, &info, &map, RTLD_DL_LINKMAP) == 0) return nullptr;
  return map;
}

// detail::first_unique_symbol(path)
// The name of the first STB_GNU_UNIQUE symbol that the ELF file at `path` defines, "" when it
// defines none, or an error when the file cannot be read as ELF. glibc never unloads an object
// whose unique symbol was bound (its dlclose silently does nothing), so modref refuses to load it.
// Reads the section headers and .dynsym/.dynstr with pread: nothing is mapped or executed.
template <class Ehdr, class Shdr, class Sym>
absl::StatusOr<std::string> first_unique_symbol_in(int fd, const std::string& quoted) {
  auto read_at = [fd](void* out, std::size_t size, std::uint64_t offset) {
    return ::pread(fd, out, size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
  };
  auto not_elf = [&quoted](const char* why) {
    return absl::InvalidArgumentError(
        absl::StrCat(quoted, ": not a loadable ELF file (", why, ")"));
  };
  Ehdr header{};
  if (!read_at(&header, sizeof header, 0)) return not_elf("short header");
  if (header.e_shentsize != sizeof(Shdr) || header.e_shnum == 0) return not_elf("no sections");
  std::vector<Shdr> sections(header.e_shnum);
  if (!read_at(sections.data(), sections.size() * sizeof(Shdr), header.e_shoff)) {
    return not_elf("short section table");
  }
  for (const Shdr& section : sections) {
    if (section.sh_type != SHT_DYNSYM || section.sh_entsize != sizeof(Sym)) continue;
    if (section.sh_link >= sections.size()) return not_elf("bad .dynsym link");
    const Shdr& strings = sections[section.sh_link];
    std::vector<Sym> symbols(section.sh_size / sizeof(Sym));
    std::string names(strings.sh_size, '\0');
    if (!read_at(symbols.data(), symbols.size() * sizeof(Sym), section.sh_offset) ||
        !read_at(names.data(), names.size(), strings.sh_offset)) {
      return not_elf("short .dynsym");
    }
    for (const Sym& symbol : symbols) {
      // ELF32_ST_BIND and ELF64_ST_BIND are the same shift.
      if ((symbol.st_info >> 4) == STB_GNU_UNIQUE && symbol.st_shndx != SHN_UNDEF &&
          symbol.st_name < names.size()) {
        return std::string(names.c_str() + symbol.st_name);
      }
    }
  }
  return std::string();
}

inline absl::StatusOr<std::string> first_unique_symbol(const std::filesystem::path& path) {
  const std::string quoted = absl::StrCat("\"", path.native(), "\"");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return posix_error_status(errno, absl::StrCat("load(", quoted, "): open"));
  unsigned char ident[EI_NIDENT] = {};
  absl::StatusOr<std::string> found =
      absl::InvalidArgumentError(absl::StrCat(quoted, ": not an ELF file"));
  if (::pread(fd, ident, sizeof ident, 0) == static_cast<ssize_t>(sizeof ident) &&
      std::memcmp(ident, ELFMAG, SELFMAG) == 0) {
    if (ident[EI_CLASS] == ELFCLASS64) {
      found = first_unique_symbol_in<Elf64_Ehdr, Elf64_Shdr, Elf64_Sym>(fd, quoted);
    } else if (ident[EI_CLASS] == ELFCLASS32) {
      found = first_unique_symbol_in<Elf32_Ehdr, Elf32_Shdr, Elf32_Sym>(fd, quoted);
    }
  }
  ::close(fd);
  return found;
}

}  // namespace detail

// modref::current_module()
// The dlopen handle (struct link_map*) of the ELF object this code was compiled into (your .so
// or the program). No reference is taken. Null only if the loader does not know this module,
// which cannot happen for code it loaded.
inline native_module_handle current_module() noexcept {
  // Relaxed: every thread that looks it up computes the same pointer.
  void* known = detail::g_this_module.load(std::memory_order_relaxed);
  if (known == nullptr) {
    known = detail::module_of(&detail::g_module_state);
    detail::g_this_module.store(known, std::memory_order_relaxed);
  }
  return known;
}

// modref::module_ref
// Move-only owner of one dlopen reference to an ELF object.
class module_ref {
 public:
  // An empty module_ref: owns nothing.
  constexpr module_ref() noexcept = default;
  // Adopts a reference the caller already owns (a handle from dlopen that it would dlclose).
  module_ref(native_module_handle module, adopt_ref_t) noexcept : module_(module) { count_pin(+1); }

  module_ref(const module_ref&) = delete;  // one loader reference, one owner
  module_ref& operator=(const module_ref&) = delete;
  module_ref(module_ref&& other) noexcept : module_(std::exchange(other.module_, nullptr)) {}
  module_ref& operator=(module_ref&& other) noexcept {
    if (this != &other) {
      reset();
      module_ = std::exchange(other.module_, nullptr);
    }
    return *this;
  }
  ~module_ref() { reset(); }

  // module_ref::pin_current()
  // Pins the ELF object this code was compiled into (the caller's .so or the program): its
  // link_map (dladdr1 on a hidden variable of this module, the first time only: current_module()
  // keeps it), then dlopen(its l_name, RTLD_NOW | RTLD_NOLOAD), identity checked. Call
  // it on the thread that starts asynchronous work, before returning to your caller.
  // Refused with kFailedPrecondition once this module's teardown has begun (its ELF destructors
  // run: dlclose is unloading it, or the process exits): work started from a global destructor
  // would pin a module that is already being torn down.
  [[nodiscard]] static absl::StatusOr<module_ref> pin_current() {
    // Relaxed: see detail::mark_module_teardown.
    if (detail::g_module_state.detaching.load(std::memory_order_relaxed)) {
      return absl::FailedPreconditionError(
          "pin_current: the module is being unloaded (its ELF destructors have run: dlclose or "
          "exit); asynchronous work cannot start from its teardown");
    }
    // The module's link_map is looked up once (current_module() keeps it): after the first pin,
    // pinning costs the dlopen(RTLD_NOLOAD) and its identity check, not a dladdr1 as well.
    return pin_module_of(&detail::g_module_state, static_cast<link_map*>(current_module()),
                         "pin_current");
  }

  // module_ref::pin_address(address)
  // Pins the ELF object that contains `address` (code or data). An address in no module (null,
  // stack, heap) gives kInvalidArgument (null) or kNotFound.
  [[nodiscard]] static absl::StatusOr<module_ref> pin_address(const void* address) {
    if (address == nullptr) {
      return absl::InvalidArgumentError("pin_address(nullptr): a null address is in no module");
    }
    return pin_module_of(address, static_cast<link_map*>(detail::module_of(address)),
                         "pin_address");
  }

  // module_ref::load(path)
  // Loads (or adds a reference to) the .so at the absolute `path` with dlopen(RTLD_NOW |
  // RTLD_LOCAL). Refused, with nothing loaded:
  //   - a relative path or bare name (kInvalidArgument): dlopen would look it up through
  //     LD_LIBRARY_PATH, the RUNPATH and the system folders, which is how library planting works;
  //   - a file that defines STB_GNU_UNIQUE symbols (kFailedPrecondition, naming the first one):
  //     glibc would never unload it, so every dlclose would silently keep it mapped. Rebuild it
  //     with -fno-gnu-unique (modref::module adds that flag for GCC); `readelf -Ws` shows them;
  //   - a missing file (kNotFound) or one that is not ELF (kInvalidArgument).
  // Other loader failures (missing dependencies, undefined symbols) are kInvalidArgument with
  // dlerror()'s text.
  [[nodiscard]] static absl::StatusOr<module_ref> load(const std::filesystem::path& path) {
    if (path.empty()) return absl::InvalidArgumentError("load(\"\"): empty path");
    if (!path.is_absolute()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "load(\"", path.native(),
          "\"): refusing a relative path or bare name; dlopen would look it up through the "
          "library search path (LD_LIBRARY_PATH, RUNPATH, system folders). Pass a full path."));
    }
    absl::StatusOr<std::string> unique = detail::first_unique_symbol(path);
    if (!unique.ok()) return unique.status();
    if (!unique->empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "load(\"", path.native(), "\"): it defines the STB_GNU_UNIQUE symbol '", *unique,
          "', so glibc would never unload it (dlclose would keep it mapped). Rebuild it with "
          "-fno-gnu-unique; `readelf -Ws` lists such symbols as UNIQUE."));
    }
    ::dlerror();  // clear a stale message
    void* module = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (module == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("load(\"", path.native(), "\"): dlopen: ", detail::dlerror_text()));
    }
    return module_ref(module, adopt_ref);
  }

  // module_ref::get()
  // The dlopen handle, or null when empty. Ownership is unchanged.
  native_module_handle get() const noexcept { return module_; }
  explicit operator bool() const noexcept { return module_ != nullptr; }

  // module_ref::release()
  // Gives up ownership without calling dlclose and returns the handle with its reference: the
  // Linux threads hand it to the thread's last destructor (<modref/thread.h>).
  [[nodiscard]] native_module_handle release() noexcept {
    count_pin(-1);
    return std::exchange(module_, nullptr);
  }

  // module_ref::reset()
  // Calls dlclose on the reference held, if any, and becomes empty. errno is kept.
  void reset() noexcept {
    if (module_ == nullptr) return;
    errno_preserver keep;
    count_pin(-1);
    ::dlclose(std::exchange(module_, nullptr));
  }

  void swap(module_ref& other) noexcept { std::swap(module_, other.module_); }
  friend void swap(module_ref& a, module_ref& b) noexcept { a.swap(b); }

 private:
  void count_pin(long delta) const noexcept {
    if (module_ != nullptr && module_ == current_module()) {
      detail::g_module_state.live_pins.fetch_add(delta, std::memory_order_relaxed);
    }
  }

  // Adds a dlopen reference to `map`, the object that contains `address` (null: none does).
  static absl::StatusOr<module_ref> pin_module_of(const void* address, link_map* map,
                                                  const char* what) {
#if defined(MODREF_TEST_SEAMS)
    if (const int injected = detail::take_injected_failure(detail::g_test_seams.fail_next_pin)) {
      return absl::UnavailableError(
          absl::StrCat(what, ": dlopen(RTLD_NOLOAD) (injected failure ", injected, ")"));
    }
#endif
    if (map == nullptr) {
      return absl::NotFoundError(absl::StrFormat(
          "%s: dladdr(%p): the address is not inside any loaded module", what, address));
    }
    // The main program's l_name is "": dlopen(nullptr) names it.
    const char* name = (map->l_name != nullptr && map->l_name[0] != '\0') ? map->l_name : nullptr;
    ::dlerror();
    void* module = ::dlopen(name, RTLD_NOW | RTLD_NOLOAD);
    if (module == nullptr) {
      return absl::NotFoundError(absl::StrFormat("%s: dlopen(\"%s\", RTLD_NOLOAD) for %p: %s", what,
                                                 name != nullptr ? name : "", address,
                                                 detail::dlerror_text()));
    }
    // The name could denote another object (a path relative to a directory since changed): the
    // handle must be the very object that contains `address`.
    link_map* opened = nullptr;
    if (::dlinfo(module, RTLD_DI_LINKMAP, &opened) != 0 || opened != map) {
      ::dlclose(module);
      return absl::NotFoundError(absl::StrFormat(
          "%s: dlopen(\"%s\", RTLD_NOLOAD) for %p found another object than the one that "
          "contains the address (loaded by a relative path?); load modules by absolute path",
          what, name != nullptr ? name : "", address));
    }
    return module_ref(module, adopt_ref);
  }

  native_module_handle module_ = nullptr;
};

// modref::pin_current_forever()
// Pins the calling module for the rest of the process (dlopen with RTLD_NODELETE): dlclose will
// never unload it. For .so's that choose simplicity over unloadability.
[[nodiscard]] inline absl::Status pin_current_forever() {
  absl::StatusOr<module_ref> pin = module_ref::pin_current();
  if (!pin.ok()) return pin.status();
  const auto* map = static_cast<const link_map*>(current_module());
  if (map == nullptr) {
    return absl::NotFoundError("pin_current_forever: dladdr1 does not know this module");
  }
  const char* name = map->l_name[0] != '\0' ? map->l_name : nullptr;
  void* forever = ::dlopen(name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  if (forever == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("pin_current_forever: dlopen(RTLD_NODELETE): ", detail::dlerror_text()));
  }
  ::dlclose(forever);  // RTLD_NODELETE already holds it; the count stays balanced
  return absl::OkStatus();
}

}  // namespace modref

#endif  // MODREF_DETAIL_MODULE_REF_LINUX_H_
