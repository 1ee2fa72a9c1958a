// link_mode_host_<mode>.exe <cycles> — runs the unload-while-running scenario against
// link_mode_<mode>.dll (built with the same MinGW link mode as this host) `cycles` times in one
// process: LoadLibrary, link_mode_start(), FreeLibrary at once, open the gate, wait (bounded) for
// both operations and for the DLL to unload. Then waits a few seconds for idle pool threads to
// exit, since a thread that outlived the DLL faults only when it exits.
// Exit code: 0 passed; 10 setup error; 11 an operation never finished; 12 the DLL never unloaded.
// A crash ends the process with its exception code (an access violation: 5 under Wine).
#include <windows.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../support/test_support.h"
#include "link_mode_io.h"

#ifndef MODREF_LINK_MODE
#error "build with -DMODREF_LINK_MODE=\"static\" (or shared, mixed)"
#endif

namespace {
// Bounds only a broken run reaches (thread starts go through wineserver under Wine).
constexpr DWORD kCycleBoundMs = 30000;
// Idle pool threads end about 5 s after their last callback under Wine; give them that and more,
// so that their exit (and whatever cleanup the runtime runs then) happens inside the test.
constexpr DWORD kPoolIdleMs = 8000;
}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  const int cycles = argc > 1 ? std::atoi(argv[1]) : 20;
  const std::wstring name = L"link_mode_" MODREF_LINK_MODE L".dll";
  link_mode_io io;
  io.gate = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  io.done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  for (int cycle = 0; cycle < cycles; ++cycle) {
    io.finished = 0;
    ::ResetEvent(io.gate);
    HMODULE dll = ::LoadLibraryW(modref_test::sibling(name.c_str()).c_str());
    if (dll == nullptr) {
      std::printf("LoadLibrary failed: %lu\n", ::GetLastError());
      return 10;
    }
    auto start = reinterpret_cast<DWORD (*)(link_mode_io*)>(
        reinterpret_cast<void*>(::GetProcAddress(dll, "link_mode_start")));
    if (start == nullptr || start(&io) != 0) return 10;
    ::FreeLibrary(dll);  // while both operations still run
    ::SetEvent(io.gate);
    if (::WaitForSingleObject(io.done, kCycleBoundMs) != WAIT_OBJECT_0) {
      std::printf("cycle %d: operations did not finish\n", cycle);
      return 11;
    }
    if (!modref_test::wait_until_unloaded(name.c_str(), std::chrono::milliseconds(kCycleBoundMs))) {
      std::printf("cycle %d: the DLL did not unload\n", cycle);
      return 12;
    }
    std::printf("cycle %d: unloaded\n", cycle);
  }
  ::Sleep(kPoolIdleMs);
  std::printf("%s runtime: %d cycles, every one unloaded; no thread faulted\n", MODREF_LINK_MODE,
              cycles);
  return 0;
}
