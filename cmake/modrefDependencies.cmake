# How modref finds Abseil, Microsoft GSL, GoogleTest and Google Benchmark.
#
# The normal route is find_package() (Linux packages, vcpkg, an installed prefix). For the
# MinGW-w64 cross build on Debian, where those packages exist only for Linux, point the
# MODREF_*_SOURCE_DIR variables at source trees (tools/setup-debian.sh fetches them) and they
# are built as part of this project.
include_guard(GLOBAL)

set(MODREF_ABSEIL_SOURCE_DIR "" CACHE PATH "Abseil source tree to build instead of find_package(absl)")
set(MODREF_GOOGLETEST_SOURCE_DIR "" CACHE PATH "GoogleTest source tree to build instead of find_package(GTest)")
set(MODREF_BENCHMARK_SOURCE_DIR "" CACHE PATH "Google Benchmark source tree to build instead of find_package(benchmark)")
set(MODREF_GSL_INCLUDE_DIR "" CACHE PATH "Directory holding gsl/ headers, used when find_package(Microsoft.GSL) is not possible")

function(modref_find_abseil)
  if(TARGET absl::status)
    return()
  endif()
  if(MODREF_ABSEIL_SOURCE_DIR)
    set(ABSL_PROPAGATE_CXX_STD ON CACHE BOOL "" FORCE)
    set(ABSL_BUILD_TESTING OFF CACHE BOOL "" FORCE)
    # With MODREF_INSTALL, Abseil installs itself next to modref (its own abslConfig.cmake, found
    # by the installed modrefConfig.cmake's find_dependency). Installing needs every Abseil
    # library built, so Abseil is EXCLUDE_FROM_ALL only without install rules (MODREF_INSTALL=OFF
    # builds just the libraries modref's tests link).
    set(ABSL_ENABLE_INSTALL ${MODREF_INSTALL} CACHE BOOL "" FORCE)
    if(MODREF_INSTALL)
      set(exclude "")
    else()
      set(exclude EXCLUDE_FROM_ALL)
    endif()
    # Abseil is linked statically into every module that uses modref.
    set(BUILD_SHARED_LIBS OFF)
    if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
      # On Linux that module is often a .so: Abseil's objects must be position-independent, and
      # GCC must not give their inline variables and static locals STB_GNU_UNIQUE binding (one
      # such symbol and glibc never unloads the .so: measured on linux-tsan, the race lab's
      # racelab_modref.so had 8, Abseil's CallOnceImpl guards and Status::kMovedFromString, and
      # stayed mapped after its last dlclose). Function scope: only Abseil's build sees these.
      set(CMAKE_POSITION_INDEPENDENT_CODE ON)
      if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        string(APPEND CMAKE_CXX_FLAGS " -fno-gnu-unique")
      endif()
    endif()
    add_subdirectory("${MODREF_ABSEIL_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/_deps/abseil" ${exclude} SYSTEM)
  else()
    find_package(absl CONFIG REQUIRED)
  endif()
endfunction()

function(modref_find_gsl)
  if(TARGET Microsoft.GSL::GSL)
    return()
  endif()
  # GSL is header-only. When it comes from a header directory, modref_gsl_headers stands in for
  # Microsoft.GSL::GSL; its MODREF_GSL_HEADERS property names the real gsl/ folder, which
  # modrefInstall.cmake installs (as include/gsl, with a Microsoft.GSL package config).
  if(MODREF_GSL_INCLUDE_DIR)
    add_library(modref_gsl_headers INTERFACE)
    target_include_directories(modref_gsl_headers SYSTEM INTERFACE "$<BUILD_INTERFACE:${MODREF_GSL_INCLUDE_DIR}>")
    target_include_directories(modref_gsl_headers INTERFACE "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
    set_target_properties(modref_gsl_headers PROPERTIES MODREF_GSL_HEADERS "${MODREF_GSL_INCLUDE_DIR}/gsl")
    add_library(Microsoft.GSL::GSL ALIAS modref_gsl_headers)
  elseif(CMAKE_CROSSCOMPILING AND EXISTS /usr/include/gsl/gsl)
    # Debian's libmsgsl-dev is header-only. Expose just /usr/include/gsl through a staging
    # directory: /usr/include itself must never be on the MinGW include path.
    set(stage "${CMAKE_BINARY_DIR}/_deps/gsl-include")
    file(MAKE_DIRECTORY "${stage}")
    file(CREATE_LINK /usr/include/gsl "${stage}/gsl" SYMBOLIC)
    add_library(modref_gsl_headers INTERFACE)
    target_include_directories(modref_gsl_headers SYSTEM INTERFACE "$<BUILD_INTERFACE:${stage}>")
    target_include_directories(modref_gsl_headers INTERFACE "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
    set_target_properties(modref_gsl_headers PROPERTIES MODREF_GSL_HEADERS /usr/include/gsl)
    add_library(Microsoft.GSL::GSL ALIAS modref_gsl_headers)
  else()
    find_package(Microsoft.GSL CONFIG REQUIRED)
  endif()
endfunction()

function(modref_find_googletest)
  if(TARGET GTest::gtest_main)
    return()
  endif()
  if(MODREF_GOOGLETEST_SOURCE_DIR)
    set(BUILD_SHARED_LIBS OFF)
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    set(gtest_force_shared_crt ON CACHE BOOL "" FORCE)
    add_subdirectory("${MODREF_GOOGLETEST_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/_deps/googletest" EXCLUDE_FROM_ALL SYSTEM)
    foreach(lib gtest gtest_main gmock)
      if(NOT TARGET GTest::${lib})
        add_library(GTest::${lib} ALIAS ${lib})
      endif()
    endforeach()
  else()
    find_package(GTest REQUIRED)
  endif()
endfunction()

function(modref_find_benchmark)
  if(TARGET benchmark::benchmark)
    return()
  endif()
  if(MODREF_BENCHMARK_SOURCE_DIR)
    set(BUILD_SHARED_LIBS OFF)
    set(BENCHMARK_ENABLE_TESTING OFF CACHE BOOL "" FORCE)
    set(BENCHMARK_ENABLE_GTEST_TESTS OFF CACHE BOOL "" FORCE)
    set(BENCHMARK_ENABLE_WERROR OFF CACHE BOOL "" FORCE)
    set(BENCHMARK_ENABLE_INSTALL OFF CACHE BOOL "" FORCE)
    add_subdirectory("${MODREF_BENCHMARK_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/_deps/benchmark" EXCLUDE_FROM_ALL SYSTEM)
  else()
    find_package(benchmark CONFIG REQUIRED)
  endif()
endfunction()
