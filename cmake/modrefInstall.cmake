# Install rules for find_package(modref): headers, the exported INTERFACE targets
# (modref::modref, modref::refcount, modref::threads, and modref::module on Windows),
# modrefConfig.cmake (find_dependency on absl and Microsoft.GSL) and modrefConfigVersion.cmake.
#
# Installing modref installs headers and CMake files only: modref is header-only and is never
# built as a DLL (its code must be compiled into the user's module; see the top-level
# CMakeLists.txt). Its CMake files are architecture independent and go to share/cmake/modref, as
# GSL's do (MODREF_INSTALL_CMAKEDIR; the vcpkg port puts them in share/modref).
#
# modrefConfig.cmake is the same file on every platform. Dependencies that this build provides
# itself are installed as their own packages into the same prefix, laid out as their own installs
# would be, so that its find_dependency() calls find them there:
#   - Abseil built from MODREF_ABSEIL_SOURCE_DIR installs itself (modref_find_abseil turns on
#     ABSL_ENABLE_INSTALL): lib/libabsl_*.a, include/absl, lib/cmake/absl/abslConfig.cmake.
#   - GSL headers taken from a header directory (target modref_gsl_headers) are installed as
#     include/gsl with share/cmake/Microsoft.GSL/Microsoft.GSLConfig.cmake defining
#     Microsoft.GSL::GSL, plus a version file when the headers' version is known.
# Dependencies found with find_package are not installed: the user has them already.
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MODREF_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/modref" CACHE STRING
  "Where modrefConfig.cmake goes, relative to the install prefix")

# --- modref ----------------------------------------------------------------------------------------
set(modref_install_targets modref_refcount modref_threads modref_modref)
set(modref_install_header_dirs refcount threads)
if(TARGET modref_module)
  list(APPEND modref_install_targets modref_module)
  list(APPEND modref_install_header_dirs modref)  # <modref/module_ref.h> and friends: Windows only
endif()
install(TARGETS ${modref_install_targets} EXPORT modrefTargets)
foreach(dir IN LISTS modref_install_header_dirs)
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/${dir}/include/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
    FILES_MATCHING PATTERN "*.h")
endforeach()
install(EXPORT modrefTargets NAMESPACE modref:: DESTINATION "${MODREF_INSTALL_CMAKEDIR}")
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/modrefConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/modrefConfig.cmake" INSTALL_DESTINATION "${MODREF_INSTALL_CMAKEDIR}")
# 0.x: a minor version may break the API, hence SameMinorVersion. Header-only: any architecture.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/modrefConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/modrefConfig.cmake" "${PROJECT_BINARY_DIR}/modrefConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/modrefLinkModeCheck.cmake" DESTINATION "${MODREF_INSTALL_CMAKEDIR}")

# --- GSL, when this build took its headers from a directory ----------------------------------------
# Exported as Microsoft.GSL::GSL in its own export set: modrefTargets.cmake then refers to
# Microsoft.GSL::GSL by that name, exactly as it does when GSL comes from find_package.
if(TARGET modref_gsl_headers)
  get_target_property(modref_gsl_headers_dir modref_gsl_headers MODREF_GSL_HEADERS)
  set(modref_gsl_cmakedir "${CMAKE_INSTALL_DATADIR}/cmake/Microsoft.GSL")
  set_target_properties(modref_gsl_headers PROPERTIES EXPORT_NAME GSL)
  install(TARGETS modref_gsl_headers EXPORT Microsoft.GSLConfig)
  install(DIRECTORY "${modref_gsl_headers_dir}/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/gsl")
  install(EXPORT Microsoft.GSLConfig NAMESPACE Microsoft.GSL:: DESTINATION "${modref_gsl_cmakedir}")
  # The headers carry no version; a GSL install laid out as <prefix>/include/gsl (Debian's
  # libmsgsl-dev is one) has it in <prefix>/share/cmake/Microsoft.GSL/Microsoft.GSLConfigVersion.cmake.
  set(modref_gsl_version_file "${modref_gsl_headers_dir}/../../share/cmake/Microsoft.GSL/Microsoft.GSLConfigVersion.cmake")
  if(EXISTS "${modref_gsl_version_file}")
    file(STRINGS "${modref_gsl_version_file}" modref_gsl_version REGEX "^set\\(PACKAGE_VERSION \"[0-9.]+\"\\)")
    string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" modref_gsl_version "${modref_gsl_version}")
  endif()
  if(modref_gsl_version)
    write_basic_package_version_file("${PROJECT_BINARY_DIR}/_deps/Microsoft.GSLConfigVersion.cmake"
      VERSION "${modref_gsl_version}" COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
    install(FILES "${PROJECT_BINARY_DIR}/_deps/Microsoft.GSLConfigVersion.cmake"
      DESTINATION "${modref_gsl_cmakedir}")
  else()
    message(STATUS "modref: GSL headers in ${modref_gsl_headers_dir} have no known version; "
      "installing Microsoft.GSLConfig.cmake without a version file")
  endif()
endif()
