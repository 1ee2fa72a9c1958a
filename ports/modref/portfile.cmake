# vcpkg overlay port for modref, built from the checkout that holds this folder.
#
#   vcpkg install modref --overlay-ports=<modref checkout>/ports        (classic mode), or in a
#   manifest project: "dependencies": [ "modref" ] in vcpkg.json and
#   { "overlay-ports": [ "<modref checkout>/ports" ] } in vcpkg-configuration.json.
#
# NOT TESTED: modref's CI has neither MSVC nor vcpkg (it runs the MinGW-w64 build under Wine, and
# Linux). What this port drives is tested there: `cmake --install` and find_package(modref) by
# tests/package (docs/packaging.md).
#
# modref is header-only: one release configuration, no library, its CMake package in
# share/modref. Abseil and GSL come from their own ports (abseil, ms-gsl), whose CMake packages
# are absl and Microsoft.GSL: the names modrefConfig.cmake finds with find_dependency.
#
# vcpkg does not hash an overlay port's source tree: after changing modref, `vcpkg remove modref`
# (or raise "port-version") before installing again, or binary caching returns the old package.
# A published release would replace SOURCE_PATH with vcpkg_from_git() pinned to a tag.
set(VCPKG_BUILD_TYPE release)  # header-only: a debug tree would be identical

get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
if(NOT EXISTS "${SOURCE_PATH}/LICENSE")
  message(FATAL_ERROR "modref: ${SOURCE_PATH}/LICENSE is missing; vcpkg installs it as the "
    "port's copyright file (vcpkg.json declares MIT)")
endif()

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DMODREF_INSTALL=ON
    -DMODREF_BUILD_TESTS=OFF
    -DMODREF_BUILD_EXAMPLES=OFF
    -DMODREF_BUILD_BENCHMARKS=OFF
    -DMODREF_INSTALL_CMAKEDIR=share/modref
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup()  # already in share/modref; makes its paths relocatable

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
