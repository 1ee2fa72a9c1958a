// Tests for <modref/module_ref.h> against the real Wine loader: pin_current, pin_address, load,
// release/reset, the per-module activity counters, and two DLLs that each pin themselves.
#include <modref/module_ref.h>

#include <windows.h>

#include <filesystem>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "../support/test_support.h"

namespace {

using modref::module_ref;

template <class Fn>
Fn get_export(HMODULE dll, const char* name) {
  return reinterpret_cast<Fn>(reinterpret_cast<void*>(::GetProcAddress(dll, name)));
}

// A pin of this executable, however it was taken: counted while held, given back by reset().
void expect_pin_of_this_executable(absl::StatusOr<module_ref> pin) {
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(pin->get(), ::GetModuleHandleW(nullptr));
  EXPECT_EQ(modref::activity().live_pins, 1);
  pin->reset();
  EXPECT_FALSE(*pin);
  EXPECT_EQ(modref::activity().live_pins, 0);
}

TEST(ModuleRef, PinCurrentPinsThisExecutable) {
  expect_pin_of_this_executable(module_ref::pin_current());
}

// Issue 9 item 11: pin_current() adds its loader reference with ntdll's LdrAddRefDll on its own
// handle, resolved by the module's TLS callback before main(); GetModuleHandleExW is the
// fallback. Both must give the same pin and the same exact count.
TEST(ModuleRef, DirectPinIsResolvedBeforeMain) {
  EXPECT_NE(modref::detail::g_ldr_add_ref_dll.load(), nullptr)
      << "LdrAddRefDll not resolved: pin_current() takes the slower GetModuleHandleExW path";
}

TEST(ModuleRef, PinCurrentThroughTheFallbackPath) {
  modref::detail::g_test_seams.disable_direct_pin = true;
  absl::StatusOr<module_ref> pin = module_ref::pin_current();
  modref::detail::g_test_seams.disable_direct_pin = false;
  expect_pin_of_this_executable(std::move(pin));
}

TEST(ModuleRef, PinAddressInsideThisModuleIsThisModule) {
  const void* address = reinterpret_cast<const void*>(&get_export<void (*)()>);
  expect_pin_of_this_executable(module_ref::pin_address(address));
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

// Non-ASCII paths (issue 9, item 7): load() takes wide paths to LoadLibraryExW and writes them
// into its messages as UTF-8. Converting with path::string() instead throws: MSVC's STL for any
// character outside the ANSI code page, libstdc++ for UTF-16 that is not well-formed.
constexpr const wchar_t* kNonAsciiFolder = L"\u043c\u043e\u0434\u0443\u043b\u044c_\u6a21\u5757";
constexpr const char* kNonAsciiFolderUtf8 =
    "\xd0\xbc\xd0\xbe\xd0\xb4\xd1\x83\xd0\xbb\xd1\x8c_\xe6\xa8\xa1\xe5\x9d\x97";

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80           ? 1
                               : (lead >> 5) == 0x6  ? 2
                               : (lead >> 4) == 0xE  ? 3
                               : (lead >> 3) == 0x1E ? 4
                                                     : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
    }
    i += length;
  }
  return true;
}

TEST(ModuleRef, LoadMissingNonAsciiPathReportsNotFoundInUtf8) {
  const std::filesystem::path missing = modref_test::exe_dir() / kNonAsciiFolder / L"missing.dll";
  absl::StatusOr<module_ref> dll = absl::UnknownError("not run");
  ASSERT_NO_THROW(dll = module_ref::load(missing));
  ASSERT_FALSE(dll.ok());
  EXPECT_EQ(dll.status().code(), absl::StatusCode::kNotFound) << dll.status();
  const std::string message(dll.status().message());
  EXPECT_TRUE(is_valid_utf8(message)) << message;
  EXPECT_NE(message.find(kNonAsciiFolderUtf8), std::string::npos) << message;
}

TEST(ModuleRef, LoadRelativeNonAsciiAndIllFormedNamesDoesNotThrow) {
  // A relative name is refused before the loader sees it; the refusal quotes it in UTF-8.
  absl::StatusOr<module_ref> relative = absl::UnknownError("not run");
  ASSERT_NO_THROW(relative = module_ref::load(std::filesystem::path(kNonAsciiFolder) / L"x.dll"));
  EXPECT_EQ(relative.status().code(), absl::StatusCode::kInvalidArgument) << relative.status();
  EXPECT_NE(std::string(relative.status().message()).find(kNonAsciiFolderUtf8), std::string::npos)
      << relative.status();
  // An unpaired surrogate is a valid Windows file name but not valid UTF-16: it is reported as
  // U+FFFD, never thrown.
  const std::filesystem::path ill_formed = modref_test::exe_dir() / L"bad\xD800name.dll";
  absl::StatusOr<module_ref> dll = absl::UnknownError("not run");
  ASSERT_NO_THROW(dll = module_ref::load(ill_formed));
  ASSERT_FALSE(dll.ok());
  EXPECT_TRUE(is_valid_utf8(dll.status().message())) << dll.status();
  EXPECT_NE(std::string(dll.status().message()).find("bad\xef\xbf\xbdname.dll"), std::string::npos)
      << dll.status();
}

TEST(ModuleRef, LoadFromNonAsciiFolderLoads) {
  const std::filesystem::path folder =
      std::filesystem::temp_directory_path() / (std::wstring(kNonAsciiFolder) + L"_load_test");
  std::filesystem::create_directories(folder);
  const std::filesystem::path copy = folder / L"pin_self_a_copy.dll";
  std::filesystem::copy_file(modref_test::sibling(L"pin_self_a.dll"), copy,
                             std::filesystem::copy_options::overwrite_existing);
  {
    absl::StatusOr<module_ref> dll = absl::UnknownError("not run");
    ASSERT_NO_THROW(dll = module_ref::load(copy));
    ASSERT_TRUE(dll.ok()) << dll.status();
    EXPECT_TRUE(modref_test::is_loaded(L"pin_self_a_copy.dll"));
  }
  EXPECT_FALSE(modref_test::is_loaded(L"pin_self_a_copy.dll"));
  std::error_code ignored;
  std::filesystem::remove_all(folder, ignored);
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
