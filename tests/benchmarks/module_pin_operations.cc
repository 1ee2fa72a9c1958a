// module_pin_operations.cc — the pin-then-release operations of module_pin_operations.h. Built
// into the benchmark EXE and, with MODREF_BENCH_BUILDING_DLL, into module_benchmark_dll.dll.
#include "module_pin_operations.h"

#include "modref/module_ref.h"

extern "C" {

DWORD modref_bench_pin_current_then_reset(const void* /*address*/) {
  absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_current();
  if (!pin.ok()) return ERROR_MOD_NOT_FOUND;
  pin->reset();
  return 0;
}

DWORD modref_bench_pin_address_then_reset(const void* address) {
  absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_address(address);
  if (!pin.ok()) return ERROR_MOD_NOT_FOUND;
  pin->reset();
  return 0;
}

DWORD modref_bench_raw_pin_then_free(const void* address) {
  HMODULE module = nullptr;
  if (!::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, static_cast<LPCWSTR>(address),
                            &module)) {
    return ::GetLastError();
  }
  ::FreeLibrary(module);
  return 0;
}

DWORD modref_bench_raw_add_ref_then_free(const void* address) {
  using add_ref_fn = LONG(NTAPI*)(ULONG, PVOID);
  static const add_ref_fn add_ref = reinterpret_cast<add_ref_fn>(
      reinterpret_cast<void*>(::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "LdrAddRefDll")));
  if (add_ref == nullptr) return ERROR_PROC_NOT_FOUND;
  HMODULE module = static_cast<HMODULE>(const_cast<void*>(address));
  if (add_ref(0, module) < 0) return ERROR_MOD_NOT_FOUND;
  ::FreeLibrary(module);
  return 0;
}

const void* modref_bench_image_base() { return &__ImageBase; }

const void* modref_bench_function_address() {
  return reinterpret_cast<const void*>(&modref_bench_raw_pin_then_free);
}

}  // extern "C"
