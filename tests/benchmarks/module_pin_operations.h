// module_pin_operations.h — one pin-then-release per call, with modref and with the raw Win32
// calls, compiled twice: into module_benchmark.exe and into module_benchmark_dll.dll. Each copy
// pins the module it was compiled into, so module_benchmark measures pinning an EXE (what the
// loader may treat specially) and pinning a DLL loaded at run time (what modref users do).
//
// Every operation has the same signature so that the benchmark loop around it is identical for
// the modref call and its raw baseline; each returns 0 on success or a Win32 error code.
#ifndef MODREF_TESTS_BENCHMARKS_MODULE_PIN_OPERATIONS_H_
#define MODREF_TESTS_BENCHMARKS_MODULE_PIN_OPERATIONS_H_

#include <windows.h>

#if defined(MODREF_BENCH_BUILDING_DLL)
#define MODREF_BENCH_EXPORT __declspec(dllexport)
#else
#define MODREF_BENCH_EXPORT
#endif

extern "C" {

// The signature shared by the operations below.
using modref_bench_pin_operation = DWORD (*)(const void* address);

// modref::module_ref::pin_current(), then reset(). `address` is ignored: pin_current() always
// pins this module's __ImageBase.
MODREF_BENCH_EXPORT DWORD modref_bench_pin_current_then_reset(const void* address);

// modref::module_ref::pin_address(address), then reset().
MODREF_BENCH_EXPORT DWORD modref_bench_pin_address_then_reset(const void* address);

// The raw baseline: GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, address), then
// FreeLibrary. With this module's image base it is what pin_current() does minus its checks.
MODREF_BENCH_EXPORT DWORD modref_bench_raw_pin_then_free(const void* address);

// The raw equivalent of pin_current() since issue 9 item 11: ntdll's LdrAddRefDll(0, address)
// on a module handle (pass this module's image base), then FreeLibrary. What pin_current() does
// minus its checks and its live_pins count, so the pair pin_current / this is the cost of the
// count. ERROR_PROC_NOT_FOUND where ntdll lacks the function.
MODREF_BENCH_EXPORT DWORD modref_bench_raw_add_ref_then_free(const void* address);

// This module's base address (&__ImageBase), the address pin_current() pins.
MODREF_BENCH_EXPORT const void* modref_bench_image_base();

// The address of a function in this module's code, for pin_address().
MODREF_BENCH_EXPORT const void* modref_bench_function_address();

}  // extern "C"

#endif  // MODREF_TESTS_BENCHMARKS_MODULE_PIN_OPERATIONS_H_
