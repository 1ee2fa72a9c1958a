// modref-freed-parameter, negative: ownership moves to the worker, or the creator waits for it.
#include <windows.h>

#include <memory>

struct params {
  char text[32];
};

static DWORD WINAPI owns_its_params(void* raw) {
  std::unique_ptr<params> p(static_cast<params*>(raw));
  return 0;
}

void ownership_moves() {
  auto p = std::make_unique<params>();
  HANDLE h = ::CreateThread(nullptr, 0, owns_its_params, p.get(), 0, nullptr);
  if (h == nullptr) return;
  p.release();  // the worker owns it now
  ::CloseHandle(h);
}

void heap_pointer() {
  ::CloseHandle(::CreateThread(nullptr, 0, owns_its_params, new params{}, 0, nullptr));
}

void waits_for_the_worker() {
  params p{};
  HANDLE h = ::CreateThread(nullptr, 0, owns_its_params, &p, 0, nullptr);
  ::WaitForSingleObject(h, INFINITE);
  ::CloseHandle(h);
}

void static_storage() {
  static params shared{};
  ::CloseHandle(::CreateThread(nullptr, 0, owns_its_params, &shared, 0, nullptr));
}
