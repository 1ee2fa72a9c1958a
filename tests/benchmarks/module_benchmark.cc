// module_benchmark.cc — what pinning a module with modref::module_ref costs next to the raw
// GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS) + FreeLibrary it wraps: pin_current()
// and pin_address() on a function address, each followed by reset(). Measured twice: in this EXE
// and in module_benchmark_dll.dll, loaded at run time the way a host loads a plug-in (the case
// modref exists for). Prints ratios (ratio_report.h); nothing fails on speed.
// See docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <windows.h>

#include <filesystem>
#include <string>
#include <vector>

#include "modref/module_ref.h"
#include "module_pin_operations.h"
#include "ratio_report.h"

namespace {

constexpr const wchar_t* benchmark_dll_name = L"module_benchmark_dll.dll";

// The operations of module_pin_operations.h as one module provides them.
struct pin_operations {
  modref_bench_pin_operation pin_current_then_reset = nullptr;
  modref_bench_pin_operation pin_address_then_reset = nullptr;
  modref_bench_pin_operation raw_pin_then_free = nullptr;
  modref_bench_pin_operation raw_add_ref_then_free = nullptr;
  const void* image_base = nullptr;
  const void* function_address = nullptr;
};

// This EXE's own copies (module_pin_operations.cc is compiled into it too).
const pin_operations& exe_operations() {
  static const pin_operations operations{
      &modref_bench_pin_current_then_reset,
      &modref_bench_pin_address_then_reset,
      &modref_bench_raw_pin_then_free,
      &modref_bench_raw_add_ref_then_free,
      modref_bench_image_base(),
      modref_bench_function_address(),
  };
  return operations;
}

// GetProcAddress's FARPROC, cast through the generic function pointer type to the real one.
template <class Function>
Function dll_export(HMODULE dll, const char* name) {
  return reinterpret_cast<Function>(reinterpret_cast<void (*)()>(::GetProcAddress(dll, name)));
}

struct loaded_benchmark_dll {
  modref::module_ref dll;  // keeps the DLL loaded for the rest of the process
  pin_operations operations;
  bool complete = false;
};

// module_benchmark_dll.dll from this EXE's folder, loaded once with module_ref::load (an absolute
// path: modref refuses bare names). Null when it could not be loaded or lacks an export.
const pin_operations* dll_operations() {
  static const loaded_benchmark_dll loaded = [] {
    loaded_benchmark_dll result;
    std::vector<wchar_t> exe_path(32768);
    const DWORD length =
        ::GetModuleFileNameW(nullptr, exe_path.data(), static_cast<DWORD>(exe_path.size()));
    if (length == 0 || length >= exe_path.size()) return result;
    const std::filesystem::path dll_path =
        std::filesystem::path(std::wstring(exe_path.data(), length)).parent_path() /
        benchmark_dll_name;
    absl::StatusOr<modref::module_ref> dll = modref::module_ref::load(dll_path);
    if (!dll.ok()) return result;
    result.dll = std::move(*dll);
    const HMODULE module = result.dll.get();
    pin_operations& ops = result.operations;
    ops.pin_current_then_reset =
        dll_export<modref_bench_pin_operation>(module, "modref_bench_pin_current_then_reset");
    ops.pin_address_then_reset =
        dll_export<modref_bench_pin_operation>(module, "modref_bench_pin_address_then_reset");
    ops.raw_pin_then_free =
        dll_export<modref_bench_pin_operation>(module, "modref_bench_raw_pin_then_free");
    ops.raw_add_ref_then_free =
        dll_export<modref_bench_pin_operation>(module, "modref_bench_raw_add_ref_then_free");
    const auto image_base = dll_export<const void* (*)()>(module, "modref_bench_image_base");
    const auto function_address =
        dll_export<const void* (*)()>(module, "modref_bench_function_address");
    if (ops.pin_current_then_reset == nullptr || ops.pin_address_then_reset == nullptr ||
        ops.raw_pin_then_free == nullptr || ops.raw_add_ref_then_free == nullptr ||
        image_base == nullptr || function_address == nullptr) {
      return result;
    }
    ops.image_base = image_base();
    ops.function_address = function_address();
    result.complete = true;
    return result;
  }();
  return loaded.complete ? &loaded.operations : nullptr;
}

enum class pinned_module { benchmark_exe, loaded_dll };

// Which operation a benchmark repeats, and on which address.
enum class pin_call {
  module_ref_pin_current,   // pin_current() + reset()
  raw_pin_image_base,       // GetModuleHandleExW(&__ImageBase) + FreeLibrary
  module_ref_pin_function,  // pin_address(function) + reset()
  raw_pin_function,         // GetModuleHandleExW(function) + FreeLibrary
  raw_add_ref_image_base,   // LdrAddRefDll(image base) + FreeLibrary
};

void repeat_pin_call(benchmark::State& state, pinned_module where, pin_call call) {
  const pin_operations* ops =
      where == pinned_module::benchmark_exe ? &exe_operations() : dll_operations();
  if (ops == nullptr) {
    state.SkipWithError("module_benchmark_dll.dll did not load next to the EXE");
    return;
  }
  modref_bench_pin_operation operation = nullptr;
  const void* address = nullptr;
  switch (call) {
    case pin_call::module_ref_pin_current:
      operation = ops->pin_current_then_reset;
      address = ops->image_base;
      break;
    case pin_call::raw_pin_image_base:
      operation = ops->raw_pin_then_free;
      address = ops->image_base;
      break;
    case pin_call::module_ref_pin_function:
      operation = ops->pin_address_then_reset;
      address = ops->function_address;
      break;
    case pin_call::raw_pin_function:
      operation = ops->raw_pin_then_free;
      address = ops->function_address;
      break;
    case pin_call::raw_add_ref_image_base:
      operation = ops->raw_add_ref_then_free;
      address = ops->image_base;
      break;
  }
  for (auto _ : state) {
    if (operation(address) != 0) [[unlikely]] {
      state.SkipWithError("pinning failed (GetModuleHandleExW or LdrAddRefDll)");
      break;
    }
  }
}

struct pin_benchmark {
  const char* name;
  pinned_module where;
  pin_call call;
};

constexpr pin_benchmark pin_benchmarks[] = {
    {"exe_raw_pin_image_base_free", pinned_module::benchmark_exe, pin_call::raw_pin_image_base},
    {"exe_pin_current_reset", pinned_module::benchmark_exe, pin_call::module_ref_pin_current},
    {"exe_raw_pin_function_free", pinned_module::benchmark_exe, pin_call::raw_pin_function},
    {"exe_pin_address_function_reset", pinned_module::benchmark_exe,
     pin_call::module_ref_pin_function},
    {"exe_raw_add_ref_image_base_free", pinned_module::benchmark_exe,
     pin_call::raw_add_ref_image_base},
    {"dll_raw_pin_image_base_free", pinned_module::loaded_dll, pin_call::raw_pin_image_base},
    {"dll_pin_current_reset", pinned_module::loaded_dll, pin_call::module_ref_pin_current},
    {"dll_raw_pin_function_free", pinned_module::loaded_dll, pin_call::raw_pin_function},
    {"dll_pin_address_function_reset", pinned_module::loaded_dll,
     pin_call::module_ref_pin_function},
    {"dll_raw_add_ref_image_base_free", pinned_module::loaded_dll,
     pin_call::raw_add_ref_image_base},
};

[[maybe_unused]] const bool pin_benchmarks_registered = [] {
  for (const pin_benchmark& entry : pin_benchmarks) {
    benchmark::RegisterBenchmark(entry.name, repeat_pin_call, entry.where, entry.call);
  }
  return true;
}();

using modref_bench::declare_ratio;
using modref_bench::time_basis;

[[maybe_unused]] const bool exe_pin_current_declared = declare_ratio({
    .label = "EXE: pin_current+reset / raw GetModuleHandleExW+FreeLibrary",
    .numerator = "exe_pin_current_reset",
    .denominator = "exe_raw_pin_image_base_free",
    .target_at_most = 1.10,
    .basis = time_basis::cpu_time,
});
[[maybe_unused]] const bool exe_pin_address_declared = declare_ratio({
    .label = "EXE: pin_address(function)+reset / raw GetModuleHandleExW+FreeLibrary",
    .numerator = "exe_pin_address_function_reset",
    .denominator = "exe_raw_pin_function_free",
    .target_at_most = 1.10,
    .basis = time_basis::cpu_time,
});
[[maybe_unused]] const bool dll_pin_current_declared = declare_ratio({
    .label = "DLL: pin_current+reset / raw GetModuleHandleExW+FreeLibrary",
    .numerator = "dll_pin_current_reset",
    .denominator = "dll_raw_pin_image_base_free",
    .target_at_most = 1.10,
    .basis = time_basis::cpu_time,
});
[[maybe_unused]] const bool dll_pin_address_declared = declare_ratio({
    .label = "DLL: pin_address(function)+reset / raw GetModuleHandleExW+FreeLibrary",
    .numerator = "dll_pin_address_function_reset",
    .denominator = "dll_raw_pin_function_free",
    .target_at_most = 1.10,
    .basis = time_basis::cpu_time,
});

// Informative (no target): what the exact live_pins count and the checks cost on top of the
// loader call pin_current() makes since issue 9 item 11 (LdrAddRefDll on its own handle).
[[maybe_unused]] const bool exe_count_cost_declared = declare_ratio({
    .label = "EXE: pin_current+reset / raw LdrAddRefDll+FreeLibrary (the count's cost)",
    .numerator = "exe_pin_current_reset",
    .denominator = "exe_raw_add_ref_image_base_free",
    .target_at_most = 0,
    .basis = time_basis::cpu_time,
});
[[maybe_unused]] const bool dll_count_cost_declared = declare_ratio({
    .label = "DLL: pin_current+reset / raw LdrAddRefDll+FreeLibrary (the count's cost)",
    .numerator = "dll_pin_current_reset",
    .denominator = "dll_raw_add_ref_image_base_free",
    .target_at_most = 0,
    .basis = time_basis::cpu_time,
});

}  // namespace
