// peb_layout_check.h — compile-time checks of the TEB/PEB offsets in <modref/detail/peb_layout.h>
// against structure definitions, for whatever target includes it. Included by dll_main_test.cc
// (x64, x86) and compiled on its own for ARM64, where nothing runs here, with
// `clang++-16 --target=aarch64-w64-mingw32 -fsyntax-only ... -x c++ peb_layout_check.h`
// (the full command is in docs/testing.md).
#ifndef MODREF_TESTS_MODREF_PEB_LAYOUT_CHECK_H_
#define MODREF_TESTS_MODREF_PEB_LAYOUT_CHECK_H_

#include <windows.h>
#include <winternl.h>

#include <cstddef>

#include "modref/detail/peb_layout.h"

namespace modref_test::peb_layout {

// The SDK's own TEB (winternl.h, in both mingw-w64 and the Windows SDK) names
// ProcessEnvironmentBlock.
static_assert(offsetof(TEB, ProcessEnvironmentBlock) == modref::detail::kTebPebOffset,
              "TEB.ProcessEnvironmentBlock is not where <modref/detail/peb_layout.h> reads it");

// The PEB up to LoaderLock, field by field as Wine's include/winternl.h lists them (one definition
// for every architecture). The SDK's PEB hides this part in Reserved arrays. Built from the field
// types, so the offset follows this target's data model and alignment rules.
struct peb_prefix {
  BOOLEAN InheritedAddressSpace, ReadImageFileExecOptions, BeingDebugged, SpareBool;
  HANDLE Mutant;
  HMODULE ImageBaseAddress;
  void* LdrData;
  void* ProcessParameters;
  void* SubSystemData;
  HANDLE ProcessHeap;
  void* FastPebLock;
  void* FastPebLockRoutine;
  void* FastPebUnlockRoutine;
  ULONG EnvironmentUpdateCount;
  void* KernelCallbackTable;
  ULONG Reserved[2];
  void* FreeList;
  ULONG TlsExpansionCounter;
  void* TlsBitmap;
  ULONG TlsBitmapBits[2];
  void* ReadOnlySharedMemoryBase;
  void* ReadOnlySharedMemoryHeap;
  void* ReadOnlyStaticServerData;
  void* AnsiCodePageData;
  void* OemCodePageData;
  void* UnicodeCaseTableData;
  ULONG NumberOfProcessors;
  ULONG NtGlobalFlag;
  LARGE_INTEGER CriticalSectionTimeout;
  SIZE_T HeapSegmentReserve;
  SIZE_T HeapSegmentCommit;
  SIZE_T HeapDeCommitTotalFreeThreshold;
  SIZE_T HeapDeCommitFreeBlockThreshold;
  ULONG NumberOfHeaps;
  ULONG MaximumNumberOfHeaps;
  void* ProcessHeaps;
  void* GdiSharedHandleTable;
  void* ProcessStarterHelper;
  void* GdiDCAttributeList;
  void* LoaderLock;
};
static_assert(offsetof(peb_prefix, LoaderLock) == modref::detail::kPebLoaderLockOffset,
              "PEB.LoaderLock is not where <modref/detail/peb_layout.h> reads it");
static_assert(offsetof(peb_prefix, LoaderLock) == (sizeof(void*) == 8 ? 0x110 : 0xA0),
              "PEB.LoaderLock should be at Wine's documented 0x110 (64-bit) / 0xA0 (32-bit)");

}  // namespace modref_test::peb_layout

#endif  // MODREF_TESTS_MODREF_PEB_LAYOUT_CHECK_H_
