// <modref/detail/peb_layout.h> — where the loader lock is, per architecture. The only place in
// modref that knows the layout of the TEB and the PEB.
//
// Internal header (included by <modref/dll_main.h>); nothing here is public API.
//
// loader_lock_held_by_this_thread() reads the owner of the critical section that the PEB's
// LoaderLock field points at. Neither structure is documented beyond a few fields, so every
// offset here carries its source:
//   - TEB.ProcessEnvironmentBlock: 0x30 (32-bit) / 0x60 (64-bit). Documented indirectly by the
//     SDK's <winternl.h> TEB (twelve PVOIDs precede it), and checked against that definition by a
//     static_assert in tests/modref/dll_main_test.cc.
//   - PEB.LoaderLock: 0xA0 (32-bit) / 0x110 (64-bit). Wine's include/winternl.h defines one PEB for
//     every architecture it builds (i386, x86_64, arm, aarch64) with `LoaderLock /* 0a0/110 */`;
//     the offsets follow from the field types alone (pointers and ULONGs, natural alignment), so
//     x64 and ARM64, which share the LLP64 data model and alignment rules, share 0x110, and x86
//     and 32-bit ARM share 0xA0. On x86 and x64 they are also what modref has read since its
//     first version, under Wine and Windows alike. tests/modref/dll_main_test.cc rebuilds the PEB
//     prefix from Wine's field list and static_asserts the offset on every target it compiles
//     for (including aarch64-w64-mingw32).
//
// How the TEB is reached:
//   - NtCurrentTeb() everywhere the SDK provides it (ARM64: register x18; 32-bit ARM: CP15).
//   - GCC and clang on x86/x64: a segment-register read in inline assembly instead, because
//     GCC 12 reports a false -Warray-bounds on mingw-w64's __readgsqword/__readfsdword, which
//     NtCurrentTeb() uses there. It reads TEB.ProcessEnvironmentBlock directly (gs:0x60, fs:0x30).
//   - MSVC on x86/x64: __readgsqword / __readfsdword, as NtCurrentTeb() does.
#ifndef MODREF_DETAIL_PEB_LAYOUT_H_
#define MODREF_DETAIL_PEB_LAYOUT_H_

#ifndef _WIN32
#error "<modref/detail/peb_layout.h> is Windows-only"
#endif

#include <windows.h>

#include <cstddef>
#include <cstdint>

namespace modref {
namespace detail {

// Offsets of TEB.ProcessEnvironmentBlock and PEB.LoaderLock for this target's pointer size.
inline constexpr std::size_t kTebPebOffset = sizeof(void*) == 8 ? 0x60 : 0x30;
inline constexpr std::size_t kPebLoaderLockOffset = sizeof(void*) == 8 ? 0x110 : 0xA0;
static_assert(sizeof(void*) == 8 || sizeof(void*) == 4,
              "modref: unknown pointer size; add this target's TEB/PEB offsets to "
              "<modref/detail/peb_layout.h> with their source");

// detail::peb_of_teb(teb): the PEB pointer stored in a TEB.
inline const unsigned char* peb_of_teb(const void* teb) noexcept {
  if (teb == nullptr) return nullptr;
  return *reinterpret_cast<const unsigned char* const*>(static_cast<const unsigned char*>(teb) +
                                                        kTebPebOffset);
}

// detail::current_peb(): this process's PEB, read from the calling thread's TEB.
inline const unsigned char* current_peb() noexcept {
  const unsigned char* peb = nullptr;
#if (defined(__x86_64__) || defined(__i386__)) && !defined(_MSC_VER)
  // GCC and clang: see the header comment (false -Warray-bounds on __readgsqword with GCC 12).
#if defined(__x86_64__)
  __asm__("movq %%gs:0x60, %0" : "=r"(peb));
#else
  __asm__("movl %%fs:0x30, %0" : "=r"(peb));
#endif
#elif defined(_MSC_VER) && defined(_M_X64) && !defined(_M_ARM64EC)
  peb = reinterpret_cast<const unsigned char*>(__readgsqword(kTebPebOffset));
#elif defined(_MSC_VER) && defined(_M_IX86)
  peb = reinterpret_cast<const unsigned char*>(__readfsdword(kTebPebOffset));
#else
  // Every other Windows architecture (ARM64, ARM64EC, 32-bit ARM): the SDK's NtCurrentTeb().
  peb = peb_of_teb(::NtCurrentTeb());
#endif
  return peb;
}

// detail::loader_lock_owned_by_this_thread(peb)
// True when the critical section that `peb`'s LoaderLock field points at is owned by the calling
// thread.
inline bool loader_lock_owned_by_this_thread(const unsigned char* peb) noexcept {
  if (peb == nullptr) return false;
  const auto* lock =
      *reinterpret_cast<const RTL_CRITICAL_SECTION* const*>(peb + kPebLoaderLockOffset);
  if (lock == nullptr) return false;
  const auto owner = reinterpret_cast<std::uintptr_t>(
      static_cast<const volatile RTL_CRITICAL_SECTION*>(lock)->OwningThread);
  return owner == static_cast<std::uintptr_t>(::GetCurrentThreadId());
}

}  // namespace detail
}  // namespace modref

#endif  // MODREF_DETAIL_PEB_LAYOUT_H_
