// pin_probe_so: a .so that pins itself, for module_ref_linux_test. Built with MODREF_TEST_SEAMS.
#include <cstdint>

#include "modref/module_ref.h"

extern "C" {

// Pins this .so and hands the reference to the caller (who dlcloses it). Returns the status code.
__attribute__((visibility("default"))) int probe_pin_current(void** handle) {
  absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_current();
  if (!pin.ok()) return static_cast<int>(pin.status().code());
  *handle = pin->release();
  return 0;
}

// Pins and keeps the pin in a module_ref whose counters the host reads, then resets it.
__attribute__((visibility("default"))) int probe_pin_counts(long* pins_while_held,
                                                            long* pins_after) {
  {
    absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_current();
    if (!pin.ok()) return static_cast<int>(pin.status().code());
    *pins_while_held = modref::activity().live_pins;
  }
  *pins_after = modref::activity().live_pins;
  return 0;
}

__attribute__((visibility("default"))) void probe_fail_next_pin(int error) {
  modref::detail::g_test_seams.fail_next_pin.store(error);
}

// This module's handle as modref sees it (no reference taken).
__attribute__((visibility("default"))) void* probe_current_module() {
  return modref::current_module();
}

__attribute__((visibility("default"))) int probe_data = 7;

}  // extern "C"
