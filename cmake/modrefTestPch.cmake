# Precompiled third-party headers for modref's own Windows tests, benchmarks and examples: a
# build-time measure for CI, never part of what users consume (the package consumers and the
# installed targets do not use it; the examples' own CMakeLists.txt do not mention it).
#
# Why: every Windows test unit parses windows.h, the standard library, Abseil's status and string
# headers and GSL (about 2.2 s per unit with MinGW GCC 12 at -O2 -g1, 2.7 s with GoogleTest and
# GoogleMock), and each Windows leg compiles about 90 such units; the three Windows legs' builds
# are the critical path of tools/test.sh (docs/testing.md, "Where the test command's time goes").
#
# What: two precompiled headers per build, each made once by a small OBJECT library and reused by
# every eligible target (REUSE_FROM):
#   modref_test_pch_plain   windows.h, the standard headers the tests use, Abseil, GSL
#   modref_test_pch_gtest   the same plus gtest.h and gmock.h, for targets linking GoogleTest
# Only third-party headers are precompiled: no modref header, so each test still includes modref's
# headers itself, with its own macros (MODREF_TEST_SEAMS, the race lab's *_RAW variants).
#
# Rules a change could break:
#   - A reusing target must compile with the host's flags. Extra -D macros are fine only if no
#     precompiled header reads them: GCC checks this and, with -Winvalid-pch and
#     -Werror, fails the compile instead of silently parsing the headers again; clang 16 accepts
#     extra macros without checking, so the GCC legs are the check for both. (CMake adds
#     -Winvalid-pch for GCC itself. Checked with MinGW GCC 12: a windows.h PCH used with an extra
#     -DNOMINMAX fails with "not used because `NOMINMAX' is defined"; an unrelated extra macro is
#     accepted.)
#   - Nothing in the list may depend on a macro a test defines before its first include
#     (NOMINMAX, WIN32_LEAN_AND_MEAN, _WIN32_WINNT, UNICODE): no test defines one today.
#   - Targets that set their own compile options are left out (their flags differ from the host's),
#     and so is a target whose property MODREF_TEST_PCH is OFF. module_ref_test is: with its
#     headers from a precompiled header, GCC 12 reports -Warray-bounds inside MinGW's inline
#     wmemcpy (wchar.h, reached from std::wstring) as if it were not a system header; parsed as
#     text, the same includes in the same order compile clean.
#
# With ccache (CMAKE_CXX_COMPILER_LAUNCHER=ccache), precompiled headers are cached only with
# CCACHE_SLOPPINESS=pch_defines,time_macros (ccache's documented requirement); without it every
# unit that uses one is compiled, not looked up. CI uses no ccache.
#
# MODREF_TEST_PCH (default ON for Windows builds with GCC or clang, which CI runs; OFF for MSVC,
# whose /Yu rules CI does not exercise, and for Linux, whose legs build in 30-100 s) turns it off.
include_guard(GLOBAL)

set(modref_test_pch_default OFF)
if(WIN32 AND NOT MSVC AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(modref_test_pch_default ON)
endif()
option(MODREF_TEST_PCH "Precompile third-party headers for modref's own Windows tests and examples"
  ${modref_test_pch_default})

set(modref_test_pch_headers
  <windows.h>
  <algorithm> <array> <atomic> <chrono> <condition_variable> <coroutine> <cstddef> <cstdint>
  <cstdio> <cstdlib> <cstring> <exception> <functional> <memory> <mutex> <new> <optional>
  <string> <string_view> <thread> <type_traits> <utility> <vector>
  <absl/base/thread_annotations.h> <absl/functional/any_invocable.h> <absl/status/status.h>
  <absl/status/statusor.h> <absl/strings/str_cat.h> <absl/strings/str_format.h>
  <absl/strings/string_view.h>
  <gsl/gsl>)

# The hosts: one OBJECT library per flavor, compiled with the tests' flags (modref_apply_warnings)
# and the libraries whose include folders and usage requirements the headers need.
function(modref_test_pch_host name extra_headers)
  set(source "${CMAKE_CURRENT_BINARY_DIR}/${name}.cc")
  file(CONFIGURE OUTPUT "${source}" CONTENT "// The host of ${name}: cmake/modrefTestPch.cmake\n")
  add_library(${name} OBJECT "${source}")
  target_link_libraries(${name} PRIVATE ${ARGN})
  modref_apply_warnings(${name})
  target_precompile_headers(${name} PRIVATE ${modref_test_pch_headers} ${extra_headers})
endfunction()

# modref_precompile_test_headers(<folder>...): every C++ executable and library target defined in
# these folders (and below) that links modref's Abseil-using targets reuses a host's precompiled
# header: the GoogleTest one if it links GoogleTest, the plain one otherwise.
function(modref_precompile_test_headers)
  if(NOT MODREF_TEST_PCH)
    return()
  endif()
  if(NOT TARGET modref_test_pch_plain)
    modref_test_pch_host(modref_test_pch_plain "" modref::threads)
    modref_test_pch_host(modref_test_pch_gtest "<gtest/gtest.h>;<gmock/gmock.h>"
      modref::threads GTest::gtest GTest::gmock)
  endif()
  # The compile options of a target that only had modref_apply_warnings, as the hosts did (the
  # PCH flags CMake adds are not in COMPILE_OPTIONS): a target with any other option is left out.
  get_target_property(host_options modref_test_pch_plain COMPILE_OPTIONS)
  set(targets "")
  set(folders ${ARGN})
  while(folders)
    list(POP_FRONT folders folder)
    get_property(here DIRECTORY "${folder}" PROPERTY BUILDSYSTEM_TARGETS)
    get_property(below DIRECTORY "${folder}" PROPERTY SUBDIRECTORIES)
    list(APPEND targets ${here})
    list(APPEND folders ${below})
  endwhile()
  set(count 0)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(NOT type MATCHES "^(EXECUTABLE|SHARED_LIBRARY|MODULE_LIBRARY|STATIC_LIBRARY)$")
      continue()
    endif()
    get_target_property(wanted ${target} MODREF_TEST_PCH)  # a target can opt out (OFF)
    if(NOT wanted STREQUAL "wanted-NOTFOUND" AND NOT wanted)
      continue()
    endif()
    get_target_property(options ${target} COMPILE_OPTIONS)
    get_target_property(libraries ${target} LINK_LIBRARIES)
    if(NOT options STREQUAL host_options OR NOT libraries)
      continue()
    endif()
    # Abseil and GSL reach a target through modref::module or modref::threads; a target without
    # them (refcount-only) keeps its own parse rather than seeing headers it did not ask for.
    if(NOT libraries MATCHES "modref::(module|threads|modref)")
      continue()
    endif()
    if(libraries MATCHES "GTest::")
      target_precompile_headers(${target} REUSE_FROM modref_test_pch_gtest)
    else()
      target_precompile_headers(${target} REUSE_FROM modref_test_pch_plain)
    endif()
    math(EXPR count "${count} + 1")
  endforeach()
  message(STATUS "modref: ${count} test targets reuse precompiled third-party headers (MODREF_TEST_PCH)")
endfunction()
