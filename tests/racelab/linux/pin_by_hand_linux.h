// The verified fix of issue 13, written by hand with glibc calls only: the race lab's control
// column (racelab_control.so) and the stress loop's control build. It shows that the harness can
// tell a correct .so from a raw one without modref, and it is what modref must match.
//
//   pin_this_module(address)  on the calling thread, before the API returns: dladdr() names the
//                             file that contains `address`, dlopen(RTLD_NOW | RTLD_NOLOAD) takes
//                             one more reference on it (it is loaded: this code runs).
//   release_at_thread_exit(pin)  the worker's FIRST act: registers libc's own dlclose as a
//                             thread-exit destructor with the pin as its argument, so the last
//                             dlclose runs from glibc's thread-exit code after every frame of the
//                             .so has returned (also after pthread_exit). Destructors run
//                             last-registered-first, so this one, registered first, runs last.
//
// Include it in a .so only: each function must be compiled into the module it pins.
#ifndef MODREF_TESTS_RACELAB_LINUX_PIN_BY_HAND_LINUX_H_
#define MODREF_TESTS_RACELAB_LINUX_PIN_BY_HAND_LINUX_H_

#include <cxxabi.h>
#include <dlfcn.h>

namespace lab_pin {

// A reference on the module that contains `address`, or nullptr.
inline void* pin_this_module(const void* address) {
  Dl_info info{};
  if (::dladdr(address, &info) == 0 || info.dli_fname == nullptr) return nullptr;
  return ::dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
}

// Registers dlclose(pin) as this thread's last thread-exit destructor. dlclose returns int and is
// called here through a void(void*) pointer: undefined by the C++ standard, fine under the x86-64
// and AArch64 calling conventions (the int return travels in a register nobody reads). The owner
// (third argument) must not be null (glibc dereferences it) and must not be an address in the .so:
// glibc counts pending thread-exit destructors per owner module and does not unmap a module while
// its count is not zero; the count drops only after the destructor returned, so with an owner in
// the .so the dlclose inside the destructor would keep it mapped for good. &dlclose is in libc.
inline bool release_at_thread_exit(void* pin) {
  // Through void(*)(), the generic function pointer type (GCC's -Wcast-function-type wants it).
  auto* close_as_destructor =
      reinterpret_cast<void (*)(void*)>(reinterpret_cast<void (*)()>(&::dlclose));
  return __cxxabiv1::__cxa_thread_atexit(close_as_destructor, pin,
                                         reinterpret_cast<void*>(&::dlclose)) == 0;
}

}  // namespace lab_pin

#endif  // MODREF_TESTS_RACELAB_LINUX_PIN_BY_HAND_LINUX_H_
