// <modref/detail/module_loader_linux.h> — the Linux/glibc loader primitives <modref/module_ref.h>
// is built on: a module is an ELF object loaded by glibc's dynamic loader (the program or a .so),
// a pin is one dlopen reference to it, and releasing the pin is dlclose. modref::module_ref
// itself, with its contract and docs, is written once in <modref/module_ref.h>; include that, not
// this file. What differs from Windows is listed in docs/api.md ("Linux").
//
//   Windows (detail/module_loader_win32.h)    Linux/glibc (here)
//   HMODULE                                   void* (a dlopen handle: glibc's struct link_map*)
//   add_ref_current: LdrAddRefDll(this        dlopen(l_name of this module's link_map, RTLD_NOW |
//     module), else GetModuleHandleExW        RTLD_NOLOAD); the link_map is looked up once
//                                             (dladdr1) and kept
//   add_ref_containing: GetModuleHandleExW(   dladdr1(a, RTLD_DL_LINKMAP), then
//     FROM_ADDRESS, a)                        dlopen(l_name, RTLD_NOW | RTLD_NOLOAD)
//   load_absolute: LoadLibraryExW(absolute    dlopen(absolute path, RTLD_NOW | RTLD_LOCAL), after
//     path, safe flags)                       refusing a file that defines STB_GNU_UNIQUE symbols
//   remove_ref: FreeLibrary                   dlclose
//   __ImageBase                               a hidden variable of this module (g_module_state)
//   pin_forever: GET_MODULE_HANDLE_EX_FLAG_PIN dlopen(..., RTLD_NOLOAD | RTLD_NODELETE)
//
// Thread safety / memory ordering: as <modref/module_ref.h>; the counters are relaxed atomics.
#ifndef MODREF_DETAIL_MODULE_LOADER_LINUX_H_
#define MODREF_DETAIL_MODULE_LOADER_LINUX_H_

#if !defined(__linux__)
#error "<modref/detail/module_loader_linux.h> is Linux-only"
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

namespace detail::loader {

// The name dlopen knows `map` by: its l_name, or null for the main program (whose l_name is "";
// dlopen(nullptr) names it).
inline const char* dlopen_name(const link_map* map) noexcept {
  return (map->l_name != nullptr && map->l_name[0] != '\0') ? map->l_name : nullptr;
}

inline constexpr const char* k_unloading =
    "pin_current: the module is being unloaded (its ELF destructors have run: dlclose or exit); "
    "asynchronous work cannot start from its teardown";

// Adds a dlopen reference to `map`, the object that contains `address` (null: none does).
inline absl::StatusOr<void*> add_ref_to(const void* address, link_map* map, const char* what) {
#if defined(MODREF_TEST_SEAMS)
  if (const int injected = take_injected_failure(g_test_seams.fail_next_pin)) {
    return absl::UnavailableError(
        absl::StrCat(what, ": dlopen(RTLD_NOLOAD) (injected failure ", injected, ")"));
  }
#endif
  if (map == nullptr) {
    return absl::NotFoundError(absl::StrFormat(
        "%s: dladdr(%p): the address is not inside any loaded module", what, address));
  }
  const char* name = dlopen_name(map);
  ::dlerror();
  void* module = ::dlopen(name, RTLD_NOW | RTLD_NOLOAD);
  if (module == nullptr) {
    return absl::NotFoundError(absl::StrFormat("%s: dlopen(\"%s\", RTLD_NOLOAD) for %p: %s", what,
                                               name != nullptr ? name : "", address,
                                               dlerror_text()));
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
  return module;
}

// loader::add_ref_current(): one reference to this module (module_ref::pin_current). The
// module's link_map is looked up once (current_module() keeps it): after the first pin, pinning
// costs the dlopen(RTLD_NOLOAD) and its identity check, not a dladdr1 as well.
inline absl::StatusOr<void*> add_ref_current() {
  return add_ref_to(&g_module_state, static_cast<link_map*>(current_module()), "pin_current");
}

// loader::add_ref_containing(address): one reference to the object that contains a non-null
// `address` (module_ref::pin_address): dladdr1 every time, the address can be in any object.
inline absl::StatusOr<void*> add_ref_containing(const void* address) {
  return add_ref_to(address, static_cast<link_map*>(module_of(address)), "pin_address");
}

// loader::load_absolute(path): dlopen(RTLD_NOW | RTLD_LOCAL) of an absolute path, refusing a file
// that defines STB_GNU_UNIQUE symbols first (module_ref::load).
inline absl::StatusOr<void*> load_absolute(const std::filesystem::path& path) {
  if (path.empty()) return absl::InvalidArgumentError("load(\"\"): empty path");
  if (!path.is_absolute()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "load(\"", path.native(),
        "\"): refusing a relative path or bare name; dlopen would look it up through the "
        "library search path (LD_LIBRARY_PATH, RUNPATH, system folders). Pass a full path."));
  }
  absl::StatusOr<std::string> unique = first_unique_symbol(path);
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
        absl::StrCat("load(\"", path.native(), "\"): dlopen: ", dlerror_text()));
  }
  return module;
}

// loader::remove_ref(module): dlclose of a non-null handle; errno is kept.
inline void remove_ref(void* module) noexcept {
  errno_preserver keep;
  ::dlclose(module);
}

// loader::pin_forever(): this module made undeletable (dlopen with RTLD_NODELETE); the reference
// count stays balanced (modref::pin_current_forever). Refused as pin_current() is during teardown.
inline absl::Status pin_forever() {
  if (g_module_state.detaching.load(std::memory_order_relaxed)) {
    return absl::FailedPreconditionError(k_unloading);
  }
  absl::StatusOr<void*> pin = add_ref_current();  // this module is known and loaded
  if (!pin.ok()) return pin.status();
  const char* name = dlopen_name(static_cast<const link_map*>(current_module()));
  void* forever = ::dlopen(name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  absl::Status status = absl::OkStatus();
  if (forever == nullptr) {
    status = absl::NotFoundError(
        absl::StrCat("pin_current_forever: dlopen(RTLD_NODELETE): ", dlerror_text()));
  } else {
    ::dlclose(forever);  // RTLD_NODELETE already holds it
  }
  remove_ref(*pin);
  return status;
}

}  // namespace detail::loader

}  // namespace modref

#endif  // MODREF_DETAIL_MODULE_LOADER_LINUX_H_
