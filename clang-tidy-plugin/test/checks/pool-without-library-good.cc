// modref-pool-without-library, negative.
#include <windows.h>

#include <modref/threadpool.h>

extern "C" IMAGE_DOS_HEADER __ImageBase;

static void CALLBACK work(PTP_CALLBACK_INSTANCE, void*, PTP_WORK) {}

// The environment names this module: the pool keeps it loaded while callbacks are outstanding.
extern "C" __declspec(dllexport) void queue_with_library() {
  TP_CALLBACK_ENVIRON env;
  ::InitializeThreadpoolEnvironment(&env);
  ::SetThreadpoolCallbackLibrary(&env, reinterpret_cast<HMODULE>(&__ImageBase));
  PTP_WORK w = ::CreateThreadpoolWork(work, nullptr, &env);
  ::SubmitThreadpoolWork(w);
  ::DestroyThreadpoolEnvironment(&env);
}

// A pin taken before queueing, released by the pool after the callback returned.
static void CALLBACK releases_its_pin(PTP_CALLBACK_INSTANCE instance, void* module) {
  ::FreeLibraryWhenCallbackReturns(instance, static_cast<HMODULE>(module));
}
extern "C" __declspec(dllexport) void queue_with_hand_pin() {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       reinterpret_cast<LPCWSTR>(&releases_its_pin), &self);
  if (!::TrySubmitThreadpoolCallback(releases_its_pin, self, nullptr)) ::FreeLibrary(self);
}

// An environment made elsewhere: this check cannot see how, so it says nothing.
PTP_WORK create_in(PTP_CALLBACK_ENVIRON env) { return ::CreateThreadpoolWork(work, nullptr, env); }

// modref's own API.
extern "C" __declspec(dllexport) void queue_modref() { (void)modref::submit([] {}); }
