// Tests for <modref/termination_safe.h>: a termination_safe object is destroyed at scope exit and
// by reset() (once), get() after reset() is a contract violation, and -- in child processes, one
// per situation, as Wine's own loader tests do -- a termination_safe global of a DLL is destroyed
// on FreeLibrary and skipped at process termination.
#include <modref/termination_safe.h>

#include <windows.h>

#include <cwchar>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "../support/test_support.h"

namespace {

struct counted {
  explicit counted(int* destroyed) : destroyed_(destroyed) {}
  ~counted() { ++*destroyed_; }
  int value = 5;
  int* destroyed_;
};

TEST(TerminationSafe, DestroysOutsideTermination) {
  int destroyed = 0;
  {
    modref::termination_safe<counted> held(&destroyed);
    EXPECT_TRUE(held.has_value());
    EXPECT_EQ(held->value, 5);
    EXPECT_EQ((*held).value, 5);
  }
  EXPECT_EQ(destroyed, 1);
}

TEST(TerminationSafe, ResetIsEarlyAndIdempotent) {
  int destroyed = 0;
  {
    modref::termination_safe<counted> held(&destroyed);
    held.reset();
    EXPECT_FALSE(held.has_value());
    held.reset();
    EXPECT_EQ(destroyed, 1);
  }
  EXPECT_EQ(destroyed, 1);
}

using TerminationSafeDeathTest = ::testing::Test;
TEST(TerminationSafeDeathTest, GetAfterResetIsAContractViolation) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  int destroyed = 0;
  modref::termination_safe<counted> held(&destroyed);
  held.reset();
  EXPECT_DEATH((void)held.get(), "");
}

// Runs termination_host.exe in `mode` and returns the DLL's log.
std::string run_termination_host(const wchar_t* mode) {
  const auto log = modref_test::temp_file(L"modref-termination");
  std::filesystem::remove(log);
  const std::wstring cmd = modref_test::quoted(modref_test::sibling(L"termination_host.exe")) +
                           L" " +
                           modref_test::quoted(modref_test::sibling(L"termination_dll.dll")) +
                           L" " + modref_test::quoted(log) + L" " + mode;
  const DWORD code = modref_test::run_child(cmd);
  EXPECT_EQ(code, 0u) << "termination_host.exe " << std::string(mode, mode + wcslen(mode));
  std::string text = modref_test::read_file(log);
  std::filesystem::remove(log);
  return text;
}

TEST(TerminationSafeInChild, FreeLibraryRunsTheDestructor) {
  const std::string log = run_termination_host(L"free");
  EXPECT_NE(log.find("detach reserved=0 terminating=0"), std::string::npos) << log;
  EXPECT_NE(log.find("guarded destroyed terminating=0 pin_refused=1"), std::string::npos) << log;
  EXPECT_NE(log.find("plain destroyed terminating=0 pin_refused=1"), std::string::npos) << log;
#if defined(__MINGW32__)
  // A destructor registered with __cxa_atexit runs from mingw-w64's TLS callback, before
  // DllMain(DLL_PROCESS_DETACH) (Wine and Windows call TLS callbacks first): the guard must
  // already hold there.
  EXPECT_NE(log.find("cxa destroyed terminating=0 pin_refused=1 after_dllmain_detach=0"),
            std::string::npos)
      << log;
#endif
}

TEST(TerminationSafeInChild, ProcessExitSkipsTheDestructor) {
  const std::string log = run_termination_host(L"exit");
  EXPECT_NE(log.find("detach reserved=1 terminating=1"), std::string::npos) << log;
  // The control: a plain global is destroyed at exit, and knows the process is terminating.
  EXPECT_NE(log.find("plain destroyed terminating=1 pin_refused=1"), std::string::npos) << log;
#if defined(__MINGW32__)
  EXPECT_NE(log.find("cxa destroyed terminating=1 pin_refused=1 after_dllmain_detach=0"),
            std::string::npos)
      << log;
#endif
  EXPECT_EQ(log.find("guarded destroyed"), std::string::npos) << log;
}

}  // namespace
