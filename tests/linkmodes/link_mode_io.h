// Shared between link_mode_host_<mode>.exe and link_mode_<mode>.dll.
#ifndef MODREF_TESTS_LINKMODES_LINK_MODE_IO_H_
#define MODREF_TESTS_LINKMODES_LINK_MODE_IO_H_

#include <windows.h>

inline constexpr long kLinkModeOperations = 2;  // one modref worker, one pool callback

struct link_mode_io {
  HANDLE gate = nullptr;       // manual-reset: opened by the host after FreeLibrary
  HANDLE done = nullptr;       // auto-reset: set by the operation that finishes last
  volatile LONG finished = 0;  // operations finished in this cycle
};

#endif  // MODREF_TESTS_LINKMODES_LINK_MODE_IO_H_
