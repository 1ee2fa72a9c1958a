// The race lab's COM row, com_server_unloaded_by_com: the contract between the host side
// (com_host.cc, linked into racelab_host.exe) and its two in-process servers, racelab_com_raw.dll
// and racelab_com_modref.dll. Here the COM runtime, not the host, unloads the server: the host
// only releases its object and calls CoFreeUnusedLibrariesEx; COM asks DllCanUnloadNow and calls
// FreeLibrary.
//
// Both servers are built from com_lab_server.h and differ only in how they start the worker and
// in how they vote:
//   - com_server_unloaded_by_com: the raw server starts an unpinned CreateThread worker, the
//     modref one a modref::start_detached worker; both vote with their object count alone, the
//     way obs-virtualcam-module did, so that COM really lets the DLL go while the worker runs: the
//     row shows what the pin does on its own.
//   - com_object_from_worker: both workers are pinned (the raw one by hand, as pattern 1's raw fix
//     does) and create an object for the client after COM has voted. The raw server votes with
//     its object count, as ATL, WRL and C++/WinRT servers do; the modref one with
//     modref::dll_can_unload_now(), which counts objects and work in one counter.
#ifndef MODREF_TESTS_RACELAB_COM_LAB_H_
#define MODREF_TESTS_RACELAB_COM_LAB_H_

#include <windows.h>
#include <unknwn.h>

// What the host and the server's worker share. Lives in the host (valid after the DLL is gone);
// every event is created by the host before the call that uses it, so the interleaving is forced.
struct com_lab_io {
  HANDLE go = nullptr;             // manual-reset: the host lets the worker continue
  HANDLE done = nullptr;           // manual-reset: the worker finished its work
  volatile LONG votes_unload = 0;  // DllCanUnloadNow answered S_OK this many times
  volatile LONG votes_keep = 0;    // ... and S_FALSE this many times
  // com_object_from_worker only:
  bool produce = false;      // the worker creates an ILabJob for the client after `go`
  bool modref_vote = false;  // the modref server votes with modref::dll_can_unload_now()
  IUnknown* made = nullptr;  // the object the worker created (the client's reference)
  HANDLE worker = nullptr;   // the worker thread, opened by the worker itself
};

// ILabJob: the servers' one interface. Start() starts a worker that waits for `go`, (with
// `produce`) creates an object for the client, sets `done` and returns into the DLL's code, which
// must then still be mapped.
// {B0A367F5-68F5-496E-A40D-134C42789B8F}
inline constexpr IID kIidLabJob = {
    0xB0A367F5, 0x68F5, 0x496E, {0xA4, 0x0D, 0x13, 0x4C, 0x42, 0x78, 0x9B, 0x8F}};
struct ILabJob : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE Start(com_lab_io* io) = 0;
};

// {83148421-F6E0-4C5E-87A4-687AFFEE4AC9}: racelab_com_raw.dll
inline constexpr CLSID kClsidLabRaw = {
    0x83148421, 0xF6E0, 0x4C5E, {0x87, 0xA4, 0x68, 0x7A, 0xFF, 0xEE, 0x4A, 0xC9}};
// {1A34F52B-A2EC-4024-AEF6-BBD812E6AA25}: racelab_com_modref.dll
inline constexpr CLSID kClsidLabModref = {
    0x1A34F52B, 0xA2EC, 0x4024, {0xAE, 0xF6, 0xBB, 0xD8, 0x12, 0xE6, 0xAA, 0x25}};

// Host side (com_host.cc): runs one of the two rows against "raw" or "modref" in this process and
// returns a lab_outcome (lab_io.h); a crash ends the process instead.
unsigned long run_com_scenario(const wchar_t* scenario, const wchar_t* variant);
// Host side (com_host.cc): `cycles` COM cycles in one process (the row com_stress).
unsigned long run_com_stress(const wchar_t* variant, int cycles);

#endif  // MODREF_TESTS_RACELAB_COM_LAB_H_
