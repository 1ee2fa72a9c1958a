# Install rules: headers, exported INTERFACE targets and a package config for find_package(modref).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(modref_install_targets modref_refcount modref_threads modref_modref)
if(TARGET modref_module)
  list(APPEND modref_install_targets modref_module)
endif()
install(TARGETS ${modref_install_targets} EXPORT modrefTargets)
foreach(component refcount modref threads)
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/${component}/include/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
endforeach()
set(modref_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/modref")
install(EXPORT modrefTargets NAMESPACE modref:: DESTINATION "${modref_cmake_dir}")
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/modrefConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/modrefConfig.cmake" INSTALL_DESTINATION "${modref_cmake_dir}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/modrefConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/modrefConfig.cmake" "${PROJECT_BINARY_DIR}/modrefConfigVersion.cmake"
  DESTINATION "${modref_cmake_dir}")
