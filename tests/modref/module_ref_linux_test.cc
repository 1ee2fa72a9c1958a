// Tests for <modref/module_ref.h> on Linux/glibc against the real dynamic loader: pin_current in
// the program and in a .so (each pins itself), pin_address, load by absolute path, the pin
// counters, and every bad input (null, stack and heap addresses, relative and empty paths, a
// missing file, a file that is not ELF, a .so that glibc can never unload).
#include <modref/module_ref.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "../support/test_support_linux.h"

namespace {

using modref_test::get_export;
using modref_test::is_mapped;

const std::string kPinProbe = MODREF_PIN_PROBE_SO;
const std::string kUnique = MODREF_UNIQUE_SO;

TEST(ModuleRef, PinCurrentInTheProgramPinsTheProgram) {
  EXPECT_TRUE(modref::can_unload_now());
  absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_current();
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(pin->get(), modref::current_module());
  EXPECT_EQ(modref::activity().live_pins, 1);
  EXPECT_FALSE(modref::can_unload_now());
  modref::module_ref moved = *std::move(pin);
  EXPECT_EQ(modref::activity().live_pins, 1);
  moved.reset();
  EXPECT_FALSE(moved);
  EXPECT_EQ(modref::activity().live_pins, 0);
  EXPECT_TRUE(modref::can_unload_now());
}

TEST(ModuleRef, NullAddressIsInvalidArgument) {
  absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_address(nullptr);
  EXPECT_EQ(pin.status().code(), absl::StatusCode::kInvalidArgument) << pin.status();
}

TEST(ModuleRef, StackAndHeapAddressesAreInNoModule) {
  int on_stack = 0;
  absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_address(&on_stack);
  EXPECT_EQ(pin.status().code(), absl::StatusCode::kNotFound) << pin.status();
  EXPECT_NE(pin.status().message().find("not inside any loaded module"), absl::string_view::npos);
  auto on_heap = std::make_unique<char[]>(1 << 20);  // large: its own mapping, not in a module
  pin = modref::module_ref::pin_address(on_heap.get());
  EXPECT_EQ(pin.status().code(), absl::StatusCode::kNotFound) << pin.status();
  EXPECT_TRUE(modref::can_unload_now());
}

TEST(ModuleRef, LoadAndPinAddressKeepTheSoMappedUntilTheLastReferenceGoes) {
  absl::StatusOr<modref::module_ref> loaded = modref::module_ref::load(kPinProbe);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(is_mapped(kPinProbe));
  const void* data = ::dlsym(loaded->get(), "probe_data");
  ASSERT_NE(data, nullptr);
  absl::StatusOr<modref::module_ref> pinned = modref::module_ref::pin_address(data);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->get(), loaded->get());
  EXPECT_EQ(modref::activity().live_pins, 0) << "pins of another module are not this one's";
  loaded->reset();
  EXPECT_TRUE(is_mapped(kPinProbe)) << "pin_address must hold its own reference";
  pinned->reset();
  EXPECT_FALSE(is_mapped(kPinProbe));
}

TEST(ModuleRef, PinCurrentInsideASoPinsThatSoNotTheHost) {
  void* so = ::dlopen(kPinProbe.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(so, nullptr) << ::dlerror();
  void* handle = nullptr;
  ASSERT_EQ(get_export<int (*)(void**)>(so, "probe_pin_current")(&handle), 0);
  EXPECT_EQ(handle, get_export<void* (*)()>(so, "probe_current_module")());
  EXPECT_NE(handle, modref::current_module());
  long held = -1, after = -1;
  ASSERT_EQ(get_export<int (*)(long*, long*)>(so, "probe_pin_counts")(&held, &after), 0);
  EXPECT_EQ(held, 1);
  EXPECT_EQ(after, 0);
  EXPECT_TRUE(modref::can_unload_now()) << "the host's counters are its own";
  ASSERT_EQ(::dlclose(so), 0);
  EXPECT_TRUE(is_mapped(kPinProbe)) << "the .so's pin of itself keeps it mapped";
  ASSERT_EQ(::dlclose(handle), 0);
  EXPECT_FALSE(is_mapped(kPinProbe));
}

TEST(ModuleRef, PinFailureLeaksNothing) {
  void* so = ::dlopen(kPinProbe.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(so, nullptr) << ::dlerror();
  get_export<void (*)(int)>(so, "probe_fail_next_pin")(1);
  void* handle = nullptr;
  EXPECT_EQ(get_export<int (*)(void**)>(so, "probe_pin_current")(&handle),
            static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_EQ(handle, nullptr);
  ASSERT_EQ(::dlclose(so), 0);
  EXPECT_FALSE(is_mapped(kPinProbe));
}

TEST(ModuleRef, LoadRefusesRelativePathsAndBareNames) {
  for (const char* path : {"pin_probe_so.so", "./pin_probe_so.so", "sub/pin_probe_so.so"}) {
    absl::StatusOr<modref::module_ref> loaded = modref::module_ref::load(path);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_NE(loaded.status().message().find("relative path"), absl::string_view::npos)
        << loaded.status();
  }
  EXPECT_EQ(modref::module_ref::load("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(is_mapped(kPinProbe));
}

TEST(ModuleRef, LoadOfAMissingFileIsNotFound) {
  absl::StatusOr<modref::module_ref> loaded =
      modref::module_ref::load("/nonexistent/modref/plugin.so");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound) << loaded.status();
  EXPECT_EQ(modref::posix_error_code(loaded.status()), ENOENT);
}

TEST(ModuleRef, LoadOfAFileThatIsNotElfIsInvalidArgument) {
  const std::filesystem::path text =
      std::filesystem::temp_directory_path() / ("modref_not_elf_" + std::to_string(::getpid()));
  std::ofstream(text) << "not a shared object\n";
  absl::StatusOr<modref::module_ref> loaded = modref::module_ref::load(text);
  std::filesystem::remove(text);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << loaded.status();
  EXPECT_NE(loaded.status().message().find("not an ELF file"), absl::string_view::npos);
}

// The .so would never unload: load() says so, names the symbol and the fix, and loads nothing.
TEST(ModuleRef, LoadRefusesASoWithUniqueSymbols) {
  absl::StatusOr<modref::module_ref> loaded = modref::module_ref::load(kUnique);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition) << loaded.status();
  EXPECT_NE(loaded.status().message().find("_ZZ14unique_countervE7counter"),
            absl::string_view::npos)
      << loaded.status();
  EXPECT_NE(loaded.status().message().find("-fno-gnu-unique"), absl::string_view::npos);
  EXPECT_FALSE(is_mapped(kUnique));
}

// Why the refusal: glibc keeps such a .so mapped after its last dlclose (the loader's behaviour,
// shown here with plain dlopen; it stays mapped for the rest of this test process).
TEST(ModuleRef, GlibcNeverUnloadsASoWithUniqueSymbols) {
  void* so = ::dlopen(kUnique.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(so, nullptr) << ::dlerror();
  EXPECT_EQ(get_export<int (*)()>(so, "unique_next")(), 1);
  ASSERT_EQ(::dlclose(so), 0);
  EXPECT_TRUE(is_mapped(kUnique));
}

TEST(ModuleRef, EachLoadIsOneReference) {
  absl::StatusOr<modref::module_ref> first = modref::module_ref::load(kPinProbe);
  absl::StatusOr<modref::module_ref> second = modref::module_ref::load(kPinProbe);
  ASSERT_TRUE(first.ok() && second.ok());
  first->reset();
  EXPECT_TRUE(is_mapped(kPinProbe));
  void* raw = second->release();
  EXPECT_TRUE(is_mapped(kPinProbe));
  ASSERT_EQ(::dlclose(raw), 0);
  EXPECT_FALSE(is_mapped(kPinProbe));
}

}  // namespace
