// The package consumers' host: loads async_worker.dll, starts its asynchronous work, calls
// FreeLibrary at once (as a careless host does), then checks that the DLL stayed loaded while its
// worker ran, that the worker finished, and that the DLL unloaded after it. Exit code 0 on
// success; otherwise 1 and a line on stderr naming the failed step.
#include <windows.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

namespace {

constexpr wchar_t kDll[] = L"async_worker.dll";

int fail(const char* what) {
  std::fprintf(stderr, "FAILED: %s (last error %lu)\n", what, ::GetLastError());
  return 1;
}

// The DLL is built next to this executable.
std::filesystem::path sibling(const wchar_t* name) {
  wchar_t buffer[MAX_PATH * 4];
  const DWORD n = ::GetModuleFileNameW(nullptr, buffer, static_cast<DWORD>(std::size(buffer)));
  return std::filesystem::path(std::wstring(buffer, n)).parent_path() / name;
}

// The DLL unloads when its last worker has left it (FreeLibraryAndExitThread): asynchronous from
// here, hence a poll. The bound is generous because Wine ends threads through wineserver, which is
// slow on a loaded 2-core machine.
bool wait_until_unloaded() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (::GetModuleHandleW(kDll) != nullptr) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace

int main() {
  HANDLE go = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  HANDLE done = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (go == nullptr || done == nullptr) return fail("CreateEventW");

  HMODULE dll = ::LoadLibraryW(sibling(kDll).c_str());
  if (dll == nullptr) return fail("LoadLibraryW(async_worker.dll)");
  using start_fn = DWORD (*)(HANDLE, HANDLE);
  auto start = reinterpret_cast<start_fn>(
      reinterpret_cast<void*>(::GetProcAddress(dll, "start_async_work")));
  if (start == nullptr) return fail("GetProcAddress(start_async_work)");
  if (const DWORD error = start(go, done); error != ERROR_SUCCESS) {
    ::SetLastError(error);
    return fail("start_async_work");
  }

  ::FreeLibrary(dll);  // at once: the worker has not even started its work
  if (::GetModuleHandleW(kDll) == nullptr) {
    return fail("the DLL unloaded while its worker was running: the worker holds no pin");
  }
  ::SetEvent(go);  // only now may the worker continue, in code that FreeLibrary did not unmap
  if (::WaitForSingleObject(done, 30000) != WAIT_OBJECT_0) return fail("the worker did not finish");
  if (!wait_until_unloaded()) return fail("the DLL stayed loaded after its worker finished");

  std::puts("ok: the worker outlived FreeLibrary, finished, and the DLL unloaded after it");
  ::CloseHandle(go);
  ::CloseHandle(done);
  return 0;
}
