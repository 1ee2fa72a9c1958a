// Tests for <modref/module_ref.h> against the real Wine loader: pin_current, pin_address, load,
// release/reset, the per-module activity counters, and two DLLs that each pin themselves.
#include <modref/module_ref.h>

#include <windows.h>

#include <gtest/gtest.h>

#include "../support/test_support.h"

namespace {

using modref::module_ref;

template <class Fn>
Fn get_export(HMODULE dll, const char* name) {
  return reinterpret_cast<Fn>(reinterpret_cast<void*>(::GetProcAddress(dll, name)));
}

TEST(ModuleRef, PinCurrentPinsThisExecutable) {
  absl::StatusOr<module_ref> pin = module_ref::pin_current();
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(pin->get(), ::GetModuleHandleW(nullptr));
  EXPECT_EQ(modref::activity().live_pins, 1);
  pin->reset();
  EXPECT_FALSE(*pin);
  EXPECT_EQ(modref::activity().live_pins, 0);
}

TEST(ModuleRef, PinAddressOfCodeInAnotherModule) {
  // GetProcAddress lives in kernel32 (Wine: kernelbase may forward; either way not this exe).
  const void* address = reinterpret_cast<const void*>(&::GetModuleHandleExW);
  absl::StatusOr<module_ref> pin = module_ref::pin_address(address);
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_NE(pin->get(), ::GetModuleHandleW(nullptr));
  EXPECT_EQ(modref::activity().live_pins, 0)
      << "pins of other modules are not this module's activity";
}

TEST(ModuleRef, PinAddressRejectsNull) {
  absl::StatusOr<module_ref> pin = module_ref::pin_address(nullptr);
  ASSERT_FALSE(pin.ok());
  EXPECT_EQ(pin.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(pin.status().message().find("null"), absl::string_view::npos);
}

TEST(ModuleRef, PinAddressOnStackOrHeapIsNotFound) {
  int on_stack = 0;
  auto on_heap = std::make_unique<int>(0);
  for (const void* address :
       {static_cast<const void*>(&on_stack), static_cast<const void*>(on_heap.get())}) {
    ::SetLastError(12345);
    absl::StatusOr<module_ref> pin = module_ref::pin_address(address);
    ASSERT_FALSE(pin.ok());
    EXPECT_EQ(pin.status().code(), absl::StatusCode::kNotFound) << pin.status();
    EXPECT_EQ(modref::win32_error_code(pin.status()), std::optional<DWORD>(ERROR_MOD_NOT_FOUND));
    EXPECT_NE(pin.status().message().find("not inside any loaded module"), absl::string_view::npos);
  }
  EXPECT_EQ(modref::activity().live_pins, 0);
}

TEST(ModuleRef, LoadRefusesRelativeAndBareNames) {
  for (const wchar_t* name : {L"pin_self_a.dll", L"sub\\pin_self_a.dll", L".\\pin_self_a.dll"}) {
    absl::StatusOr<module_ref> dll = module_ref::load(name);
    ASSERT_FALSE(dll.ok());
    EXPECT_EQ(dll.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(dll.status().message().find("DLL planting"), absl::string_view::npos);
  }
  absl::StatusOr<module_ref> empty = module_ref::load(L"");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModuleRef, LoadMissingFileReportsTheWin32Error) {
  absl::StatusOr<module_ref> dll = module_ref::load(modref_test::sibling(L"no_such_module.dll"));
  ASSERT_FALSE(dll.ok());
  EXPECT_EQ(dll.status().code(), absl::StatusCode::kNotFound) << dll.status();
  EXPECT_EQ(modref::win32_error_code(dll.status()), std::optional<DWORD>(ERROR_MOD_NOT_FOUND));
  EXPECT_NE(dll.status().message().find("no_such_module.dll"), absl::string_view::npos);
}

TEST(ModuleRef, LoadAndResetUnloads) {
  {
    absl::StatusOr<module_ref> dll = module_ref::load(modref_test::sibling(L"pin_self_a.dll"));
    ASSERT_TRUE(dll.ok()) << dll.status();
    EXPECT_TRUE(modref_test::is_loaded(L"pin_self_a.dll"));
    ::SetLastError(4242);
    dll->reset();
    EXPECT_EQ(::GetLastError(), 4242u) << "reset() must preserve GetLastError()";
  }
  EXPECT_FALSE(modref_test::is_loaded(L"pin_self_a.dll"));
}

TEST(ModuleRef, MoveTransfersTheSingleReference) {
  absl::StatusOr<module_ref> dll = module_ref::load(modref_test::sibling(L"pin_self_a.dll"));
  ASSERT_TRUE(dll.ok()) << dll.status();
  module_ref a = std::move(*dll);
  module_ref b;
  b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT: moved-from is empty
  EXPECT_TRUE(b);
  swap(a, b);
  EXPECT_TRUE(a);
  a = module_ref();
  EXPECT_FALSE(modref_test::is_loaded(L"pin_self_a.dll"));
}

TEST(ModuleRef, ReleaseHandsOverWithoutFreeing) {
  absl::StatusOr<module_ref> dll = module_ref::load(modref_test::sibling(L"pin_self_a.dll"));
  ASSERT_TRUE(dll.ok()) << dll.status();
  HMODULE raw = dll->release();
  EXPECT_FALSE(*dll);
  EXPECT_TRUE(modref_test::is_loaded(L"pin_self_a.dll"));
  module_ref adopted(raw, modref::adopt_ref);
  adopted.reset();
  EXPECT_FALSE(modref_test::is_loaded(L"pin_self_a.dll"));
}

// A DLL pins itself; the host's FreeLibrary leaves it loaded until the pin is given back.
TEST(ModuleRefInDll, SelfPinOutlivesTheHostsFreeLibrary) {
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(L"pin_self_a.dll").c_str());
  ASSERT_NE(dll, nullptr);
  auto take_pin = get_export<DWORD (*)()>(dll, "take_pin");
  auto hand_over_pin = get_export<HMODULE (*)()>(dll, "hand_over_pin");
  auto live_pins = get_export<long (*)()>(dll, "live_pins");
  ASSERT_EQ(take_pin(), 0u);
  EXPECT_EQ(live_pins(), 0) << "the pin was released to a raw handle inside the DLL";
  ::FreeLibrary(dll);
  EXPECT_TRUE(modref_test::is_loaded(L"pin_self_a.dll")) << "the DLL's own pin must keep it loaded";
  HMODULE pin = hand_over_pin();
  EXPECT_EQ(pin, dll);
  ::FreeLibrary(pin);
  EXPECT_FALSE(modref_test::is_loaded(L"pin_self_a.dll")) << "the last reference is gone";
}

// The same source built as two DLLs: each pins itself, never the other.
TEST(ModuleRefInDll, TwoDllsEachPinThemselves) {
  HMODULE a = ::LoadLibraryW(modref_test::sibling(L"pin_self_a.dll").c_str());
  HMODULE b = ::LoadLibraryW(modref_test::sibling(L"pin_self_b.dll").c_str());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(a, b);
  auto pinned_a = get_export<HMODULE (*)()>(a, "module_pinned_by_pin_current");
  auto pinned_b = get_export<HMODULE (*)()>(b, "module_pinned_by_pin_current");
  EXPECT_EQ(pinned_a(), a);
  EXPECT_EQ(pinned_b(), b);
  EXPECT_EQ(get_export<HMODULE (*)()>(a, "current_module_handle")(), a);
  EXPECT_EQ(get_export<HMODULE (*)()>(b, "current_module_handle")(), b);

  ASSERT_EQ(get_export<DWORD (*)()>(a, "take_pin")(), 0u);
  auto hand_over_a = get_export<HMODULE (*)()>(a, "hand_over_pin");
  ::FreeLibrary(a);
  ::FreeLibrary(b);
  EXPECT_TRUE(modref_test::is_loaded(L"pin_self_a.dll"));
  EXPECT_FALSE(modref_test::is_loaded(L"pin_self_b.dll")) << "a's pin must not hold b";
  ::FreeLibrary(hand_over_a());
  EXPECT_FALSE(modref_test::is_loaded(L"pin_self_a.dll"));
}

TEST(ModuleRefInDll, ActivityCountsArePerModule) {
  absl::StatusOr<module_ref> pin = module_ref::pin_current();
  ASSERT_TRUE(pin.ok());
  HMODULE a = ::LoadLibraryW(modref_test::sibling(L"pin_self_a.dll").c_str());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(get_export<long (*)()>(a, "live_pins")(), 0)
      << "the exe's pin is not the DLL's activity";
  EXPECT_EQ(modref::activity().live_pins, 1);
  EXPECT_FALSE(modref::can_unload_now());
  pin->reset();
  EXPECT_TRUE(modref::can_unload_now());
  ::FreeLibrary(a);
}

TEST(PinCurrentForever, KeepsTheModuleLoadedForever) {
  // Only the exe is pinned here (a DLL pinned for ever would leak into other tests).
  EXPECT_TRUE(modref::pin_current_forever().ok());
}

}  // namespace
