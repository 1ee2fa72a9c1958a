# Fixture setup of the package tests: a fresh `cmake --install` of the modref build into PREFIX,
# and no consumer build trees left from an earlier run (WIPE), so that nothing stale can satisfy
# them. Then checks the files find_package(modref) relies on, and that modref installed no binary.
#
#   cmake -DBUILD_DIR=<modref build> -DPREFIX=<dir> -DCONFIG=<config> -DCMAKEDIR=<rel. dir of
#         modrefConfig.cmake> -DWIPE=<dir> -P install_prefix.cmake
file(REMOVE_RECURSE "${PREFIX}" "${WIPE}")
execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" --config "${CONFIG}"
  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${result}):\n${output}")
endif()

foreach(file IN ITEMS "${CMAKEDIR}/modrefConfig.cmake" "${CMAKEDIR}/modrefConfigVersion.cmake"
                      "${CMAKEDIR}/modrefTargets.cmake" include/modref/refcount.h
                      include/modref/object_pool.h)
  if(NOT EXISTS "${PREFIX}/${file}")
    message(FATAL_ERROR "cmake --install did not install ${file}")
  endif()
endforeach()

# modref is header-only and never a DLL: no library of its own may appear in the prefix.
file(GLOB_RECURSE binaries "${PREFIX}/*modref*.dll" "${PREFIX}/*modref*.lib" "${PREFIX}/*modref*.a"
     "${PREFIX}/*modref*.so")
if(binaries)
  message(FATAL_ERROR "modref installed binaries: ${binaries}")
endif()

file(GLOB_RECURSE installed RELATIVE "${PREFIX}" "${PREFIX}/*")
list(LENGTH installed count)
file(GLOB packages RELATIVE "${PREFIX}" "${PREFIX}/*/cmake/*" "${PREFIX}/*/*/cmake/*")
message(STATUS "installed ${count} files into ${PREFIX}; package configs: ${packages}")
