// Tests for <modref/dll_main.h>: the shutdown probe, and the loader-lock probe inside and outside
// DllMain (through the segment register and through the TEB path ARM64 takes).
// (<modref/termination_safe.h> is tested in termination_safe_test.cc.)
#include <modref/dll_main.h>

#include <windows.h>

#include <gtest/gtest.h>

#include "../support/test_support.h"
#include "peb_layout_check.h"

namespace {

template <class Fn>
Fn get_export(HMODULE dll, const char* name) {
  return reinterpret_cast<Fn>(reinterpret_cast<void*>(::GetProcAddress(dll, name)));
}

TEST(ProcessTerminating, FalseWhileTheProcessRuns) { EXPECT_FALSE(modref::process_terminating()); }

TEST(ProcessTerminating, ShutdownProbeResolvedAtLoad) {
  // Resolved by modref's TLS callback on DLL_PROCESS_ATTACH (this EXE's own), before main().
  EXPECT_NE(modref::detail::g_shutdown_probe.load(), nullptr)
      << "RtlDllShutdownInProgress should exist in ntdll (Windows XP+ and Wine)";
}

TEST(LoaderLock, NotHeldOutsideDllMain) { EXPECT_FALSE(modref::loader_lock_held_by_this_thread()); }

TEST(LoaderLock, HeldInsideDllMain) {
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(L"pin_self_a.dll").c_str());
  ASSERT_NE(dll, nullptr);
  EXPECT_TRUE(get_export<BOOL (*)()>(dll, "loader_lock_seen_in_attach")())
      << "DllMain(DLL_PROCESS_ATTACH) runs under the loader lock";
  EXPECT_FALSE(get_export<BOOL (*)()>(dll, "loader_lock_seen_outside")());
  ::FreeLibrary(dll);
}

// The path every architecture without a segment-register read takes (ARM64: NtCurrentTeb() is
// x18): from a TEB pointer to the PEB to LoaderLock. Here the TEB comes from ntdll, so x64 and x86
// run the same offsets that ARM64 uses (checked at compile time by peb_layout_check.h).
TEST(LoaderLock, TebPathAgreesWithTheRegisterPath) {
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(L"pin_self_a.dll").c_str());
  ASSERT_NE(dll, nullptr);
  const void* teb = get_export<const void* (*)()>(dll, "current_teb_from_ntdll")();
  ASSERT_NE(teb, nullptr);
  EXPECT_EQ(modref::detail::peb_of_teb(teb), modref::detail::current_peb());
  EXPECT_FALSE(modref::detail::loader_lock_owned_by_this_thread(modref::detail::peb_of_teb(teb)));
  EXPECT_TRUE(get_export<BOOL (*)()>(dll, "loader_lock_seen_in_attach_via_teb")())
      << "DllMain(DLL_PROCESS_ATTACH) runs under the loader lock; the TEB path did not see it";
  ::FreeLibrary(dll);
}

}  // namespace
