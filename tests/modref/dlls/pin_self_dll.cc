// A test DLL that pins itself with modref::module_ref. Built twice (pin_self_a.dll and
// pin_self_b.dll) from this one source, so a test can show that each DLL pins itself and never the
// other, and that the host's FreeLibrary leaves a pinned DLL loaded.
#include <windows.h>

#include <modref/dll_main.h>
#include <modref/module_ref.h>

namespace {
// Held in a plain pointer, not a module_ref global: a global module_ref of the module itself would
// only be released by the module's own unload, which it prevents.
HMODULE g_pinned = nullptr;
bool g_loader_lock_seen_in_attach = false;
bool g_loader_lock_seen_outside = true;
bool g_loader_lock_seen_in_attach_via_teb = false;

// The calling thread's TEB from NtQueryInformationThread(ThreadBasicInformation), not from a
// register: the ARM64 path of modref reaches the PEB from a TEB pointer (NtCurrentTeb()), and this
// runs that same code on x64 and x86.
const void* teb_from_ntdll() {
  struct thread_basic_information {
    LONG exit_status;
    void* teb_base_address;
    void* client_id[2];
    ULONG_PTR affinity_mask;
    LONG priority;
    LONG base_priority;
  };
  using query_fn = LONG(NTAPI*)(HANDLE, int, void*, ULONG, ULONG*);
  const auto query = reinterpret_cast<query_fn>(reinterpret_cast<void*>(
      ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "NtQueryInformationThread")));
  thread_basic_information info{};
  if (query == nullptr || query(::GetCurrentThread(), 0, &info, sizeof info, nullptr) !=
                              0) {  // 0: ThreadBasicInformation
    return nullptr;
  }
  return info.teb_base_address;
}
}  // namespace

extern "C" {

// Pins this DLL. Returns 0, or the Win32 error the pin reported.
__declspec(dllexport) DWORD take_pin() {
  absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_current();
  if (!pin.ok()) return modref::win32_error_code(pin.status()).value_or(ERROR_GEN_FAILURE);
  g_pinned = pin->release();
  return 0;
}

// Hands the pin to the host, which calls FreeLibrary on it: a DLL must never call FreeLibrary on
// its last reference to itself and then return into its own (unmapped) code.
__declspec(dllexport) HMODULE hand_over_pin() {
  HMODULE pinned = g_pinned;
  g_pinned = nullptr;
  return pinned;
}

// The module pin_current() pins from inside this DLL (taken and given back at once).
__declspec(dllexport) HMODULE module_pinned_by_pin_current() {
  absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_current();
  return pin.ok() ? pin->get() : nullptr;
}

__declspec(dllexport) HMODULE current_module_handle() { return modref::current_module(); }

__declspec(dllexport) long live_pins() { return modref::activity().live_pins; }

__declspec(dllexport) BOOL loader_lock_seen_in_attach() { return g_loader_lock_seen_in_attach; }

__declspec(dllexport) BOOL loader_lock_seen_in_attach_via_teb() {
  return g_loader_lock_seen_in_attach_via_teb;
}

// The TEB as ntdll reports it, for the host's check of modref::detail::peb_of_teb.
__declspec(dllexport) const void* current_teb_from_ntdll() { return teb_from_ntdll(); }

__declspec(dllexport) BOOL loader_lock_seen_outside() {
  g_loader_lock_seen_outside = modref::loader_lock_held_by_this_thread();
  return g_loader_lock_seen_outside;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void* reserved) {
  if (reason == DLL_PROCESS_ATTACH) {
    g_loader_lock_seen_in_attach = modref::loader_lock_held_by_this_thread();
    g_loader_lock_seen_in_attach_via_teb = modref::detail::loader_lock_owned_by_this_thread(
        modref::detail::peb_of_teb(teb_from_ntdll()));
  }
  return modref::dll_main(instance, reason, reserved);
}

}  // extern "C"
