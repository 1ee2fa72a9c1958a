// Init-order test for modref's globals (issue 9, item 4): init_order_dll.dll starts pool work from
// a global constructor of a translation unit that runs before the one that includes
// <modref/threadpool.h> (see dlls/init_order_dll.h). Every modref global that code touches must
// already be usable then, which only constant initialisation guarantees. The callback must not
// write into a TLS slot it does not own (a dynamically initialised slot index reads as 0 until its
// initialiser runs: TLS slot 0, which belongs to someone else).
#include <windows.h>

#include <vector>

#include <gtest/gtest.h>

#include "../support/test_support.h"
#include "dlls/init_order_dll.h"

namespace {

// Runs a raw pool callback and waits for it, so that the default pool has an idle thread when
// the DLL's constructor submits (a new pool thread could not start while the loader lock is
// held). Returns what that pool thread had in TLS slot 0: the control for the DLL's callback.
struct slot0_probe {
  HANDLE done;
  void* slot0;
};
// A named CALLBACK function, not a lambda: on 32-bit x86 a captureless lambda converts only to a
// default-convention (cdecl) pointer, and PTP_SIMPLE_CALLBACK is __stdcall.
void CALLBACK read_slot0(PTP_CALLBACK_INSTANCE, void* raw) {
  auto* self = static_cast<slot0_probe*>(raw);
  self->slot0 = ::TlsGetValue(0);
  ::SetEvent(self->done);
}

void* warm_default_pool_and_read_slot0() {
  slot0_probe p{::CreateEventW(nullptr, TRUE, FALSE, nullptr), nullptr};
  if (!::TrySubmitThreadpoolCallback(&read_slot0, &p, nullptr)) return nullptr;
  // Bound only: a pool callback starts within milliseconds even on a loaded machine.
  ::WaitForSingleObject(p.done, 30'000);
  ::CloseHandle(p.done);
  return p.slot0;
}

TEST(InitOrder, PoolWorkFromAnEarlierTranslationUnitLeavesOtherTlsSlotsAlone) {
  void* const control_slot0 = warm_default_pool_and_read_slot0();
  ASSERT_EQ(control_slot0, nullptr)
      << "control: a pool thread already holds a value in TLS slot 0 here, so the check below "
         "could not tell modref's write from its owner's";

  HMODULE dll = ::LoadLibraryW(modref_test::sibling(L"init_order_dll.dll").c_str());
  ASSERT_NE(dll, nullptr) << "LoadLibrary failed: " << ::GetLastError();
  const auto get_results = reinterpret_cast<void (*)(init_order_results*)>(
      reinterpret_cast<void*>(::GetProcAddress(dll, "init_order_get_results")));
  ASSERT_NE(get_results, nullptr);
  init_order_results results;
  get_results(&results);

  // The order under test (MinGW: constructors in reverse link order; the starter is linked last).
  EXPECT_TRUE(results.starter_ran_before_pool_tu)
      << "the starter TU's constructor did not run before the pool TU's dynamic initialisation: "
         "this toolchain orders them the other way and the scenario is not exercised";
  EXPECT_TRUE(results.work_submitted);
  ASSERT_TRUE(results.callback_ran_during_load)
      << "the callback did not run while the DLL was loading (no idle pool thread?)";
  EXPECT_EQ(results.slot0_in_callback, nullptr)
      << "TLS slot 0 held " << results.slot0_in_callback
      << " inside the callback: modref wrote its running-callback marker into a slot it does "
         "not own";
  EXPECT_EQ(results.starter_slot_in_callback, nullptr)
      << "the starter TU's TLS slot " << results.starter_slot << " held "
      << results.starter_slot_in_callback << " inside the callback";

  ::FreeLibrary(dll);
  EXPECT_TRUE(modref_test::wait_until_unloaded(L"init_order_dll.dll"))
      << "the DLL stayed loaded after its pool work finished";
}

// The lazily allocated slot is given back at unload (by modref's TLS callback on
// DLL_PROCESS_DETACH). A slot kept per load would run the process out of its 1,088 TLS indexes
// after as many cycles. The test asks the DLL which index modref used and checks, after the
// unload, that TlsAlloc hands that index out again. (Comparing the lowest free indexes does not
// work: the statically linked MinGW runtime of the DLL keeps one index per load on its own.)
bool tls_index_is_free(DWORD wanted) {
  std::vector<DWORD> taken;
  bool found = false;
  for (int i = 0; i < 1088 && !found; ++i) {
    const DWORD index = ::TlsAlloc();
    if (index == TLS_OUT_OF_INDEXES) break;
    taken.push_back(index);
    found = index == wanted;
  }
  for (const DWORD index : taken) ::TlsFree(index);
  return found;
}

TEST(InitOrder, TheTlsSlotIsFreedAtUnload) {
  for (int cycle = 0; cycle < 3; ++cycle) {
    warm_default_pool_and_read_slot0();
    HMODULE dll = ::LoadLibraryW(modref_test::sibling(L"init_order_dll.dll").c_str());
    ASSERT_NE(dll, nullptr) << "LoadLibrary failed: " << ::GetLastError();
    const auto get_results = reinterpret_cast<void (*)(init_order_results*)>(
        reinterpret_cast<void*>(::GetProcAddress(dll, "init_order_get_results")));
    ASSERT_NE(get_results, nullptr);
    init_order_results results;
    get_results(&results);
    ASSERT_NE(results.modref_slot, TLS_OUT_OF_INDEXES) << "the callback allocated no slot";
    ::FreeLibrary(dll);
    ASSERT_TRUE(modref_test::wait_until_unloaded(L"init_order_dll.dll"));
    EXPECT_TRUE(tls_index_is_free(results.modref_slot))
        << "cycle " << cycle << ": modref's TLS index " << results.modref_slot
        << " stayed allocated after the DLL unloaded";
  }
}

}  // namespace
