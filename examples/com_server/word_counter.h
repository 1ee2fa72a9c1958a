// word_counter.h — the interface of word_counter_server.dll, an in-process COM server, shared by
// the server and its host. Hand-written (no MIDL): two interfaces and a class id.
#ifndef MODREF_EXAMPLES_COM_SERVER_WORD_COUNTER_H_
#define MODREF_EXAMPLES_COM_SERVER_WORD_COUNTER_H_

#include <windows.h>
#include <unknwn.h>

// IWordCountSink: implemented by the client. The server calls Counted() from its background
// work, once per piece of work (`how` says which: L"thread" or L"pool").
// {86F53BC4-CAA1-4261-9298-862A63BCC8C9}
inline constexpr IID kIidWordCountSink = {
    0x86F53BC4, 0xCAA1, 0x4261, {0x92, 0x98, 0x86, 0x2A, 0x63, 0xBC, 0xC8, 0xC9}};
struct IWordCountSink : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE Counted(const wchar_t* how, ULONG words) = 0;
};

// IWordCounter: implemented by the server. CountWords() copies `text`, starts the counting in
// the background (a thread and a pool callback) and returns at once; each reports to `sink`.
// {096FF5FC-9D2D-4554-8ADE-34EE963D1F75}
inline constexpr IID kIidWordCounter = {
    0x096FF5FC, 0x9D2D, 0x4554, {0x8A, 0xDE, 0x34, 0xEE, 0x96, 0x3D, 0x1F, 0x75}};
struct IWordCounter : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE CountWords(const wchar_t* text, IWordCountSink* sink) = 0;
};

// The class served by word_counter_server.dll.
// {8D73DECB-977D-4C55-85AC-6619525807A4}
inline constexpr CLSID kClsidWordCounter = {
    0x8D73DECB, 0x977D, 0x4C55, {0x85, 0xAC, 0x66, 0x19, 0x52, 0x58, 0x07, 0xA4}};

#endif  // MODREF_EXAMPLES_COM_SERVER_WORD_COUNTER_H_
