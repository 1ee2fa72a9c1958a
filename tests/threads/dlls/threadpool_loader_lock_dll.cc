// A test DLL that destroys someone else's object from its DllMain(DLL_PROCESS_DETACH), that is
// under the loader lock. The host hands it a pool object and a function that destroys it, then
// FreeLibrary's the DLL: the pool object's destructor runs inside DllMain, where waiting for pool
// callbacks could deadlock. The DLL itself does not use modref; it only provides the loader lock.
#include <windows.h>

namespace {
void (*g_destroy)(void*) = nullptr;
void* g_victim = nullptr;
}  // namespace

extern "C" {

// Registers `destroy(victim)` to be called from DLL_PROCESS_DETACH on FreeLibrary.
__declspec(dllexport) void set_victim(void (*destroy)(void*), void* victim) {
  g_destroy = destroy;
  g_victim = victim;
}

BOOL WINAPI DllMain(HINSTANCE, DWORD reason, void* reserved) {
  if (reason == DLL_PROCESS_DETACH && reserved == nullptr && g_destroy != nullptr) {
    g_destroy(g_victim);
  }
  return TRUE;
}

}  // extern "C"
