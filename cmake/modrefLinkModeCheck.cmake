# modref's configure-time check of the MinGW runtime link mode (docs/packaging.md, "Link modes").
#
# A MinGW DLL linked with -static-libgcc (usually as -static-libgcc -static-libstdc++) but with the
# shared libwinpthread-1.dll crashes when it unloads: libgcc's emulated TLS, compiled into the
# DLL, registers its per-thread destructor with the shared winpthreads, and a thread that used
# emulated TLS in the DLL (the thread whose FreeLibrary unloads it runs the DLL's <iostream>
# teardown, which does) calls that destructor when it exits, after the DLL is gone. modref
# cannot fix that from a header: the destructor and its registration are libgcc's, the thread
# exit is winpthreads'. So the CMake package refuses the mode as early as it can, at configure
# time, with what to do instead. Supported: -static (everything inside the DLL) or the shared
# runtime (nothing of it inside the DLL).
#
# How: modref_check_link_modes() schedules one check at the end of the top-level directory. It
# visits every SHARED or MODULE library that links a modref target directly and looks at the link
# flags CMake knows literally: the target's LINK_OPTIONS and LINK_FLAGS, '-' items of its
# LINK_LIBRARIES, its directory's LINK_OPTIONS, CMAKE_{SHARED,MODULE}_LINKER_FLAGS[_<CONFIG>] and
# CMAKE_CXX_FLAGS. -static-libgcc without -static is refused, unless the flags name a static
# winpthreads explicitly (libwinpthread.a, -Bstatic). Flags inside generator expressions cannot be
# read at configure time and are not judged.
#
# Opt-outs (you take the crash on you): the target property MODREF_ALLOW_MIXED_MINGW_RUNTIME, or
# the variable of the same name for the whole build.
include_guard(GLOBAL)

function(_modref_link_mode_directories dir out)
  set(all "${dir}")
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _modref_link_mode_directories("${sub}" nested)
    list(APPEND all ${nested})
  endforeach()
  set(${out} "${all}" PARENT_SCOPE)
endfunction()

function(_modref_link_mode_uses_modref target out)
  get_target_property(libs ${target} LINK_LIBRARIES)
  set(uses FALSE)
  foreach(lib IN LISTS libs)
    if(lib MATCHES "^(modref::|modref_)(modref|threads|module|refcount)$"
       OR lib MATCHES "^\\$<LINK_ONLY:(modref::|modref_)")
      set(uses TRUE)
    endif()
  endforeach()
  set(${out} ${uses} PARENT_SCOPE)
endfunction()

function(_modref_check_mingw_link_modes)
  if(NOT MINGW OR MODREF_ALLOW_MIXED_MINGW_RUNTIME)
    return()
  endif()
  string(TOUPPER "${CMAKE_BUILD_TYPE}" config)
  _modref_link_mode_directories("${CMAKE_SOURCE_DIR}" dirs)
  set(refused "")
  foreach(dir IN LISTS dirs)
    get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
    get_property(dir_options DIRECTORY "${dir}" PROPERTY LINK_OPTIONS)
    foreach(target IN LISTS targets)
      get_target_property(type ${target} TYPE)
      if(NOT type MATCHES "^(SHARED|MODULE)_LIBRARY$")
        continue()
      endif()
      get_target_property(allowed ${target} MODREF_ALLOW_MIXED_MINGW_RUNTIME)
      if(allowed)
        continue()
      endif()
      _modref_link_mode_uses_modref(${target} uses)
      if(NOT uses)
        continue()
      endif()
      if(type STREQUAL "SHARED_LIBRARY")
        set(kind SHARED)
      else()
        set(kind MODULE)
      endif()
      get_target_property(options ${target} LINK_OPTIONS)
      get_target_property(flags ${target} LINK_FLAGS)
      get_target_property(libs ${target} LINK_LIBRARIES)
      set(all " ${CMAKE_${kind}_LINKER_FLAGS} ${CMAKE_${kind}_LINKER_FLAGS_${config}} ${CMAKE_CXX_FLAGS} ")
      foreach(item IN LISTS options dir_options flags libs)
        if(item AND NOT item MATCHES "-NOTFOUND$")
          string(APPEND all " ${item} ")
        endif()
      endforeach()
      string(REGEX REPLACE "\\$<[^>]*>" " " literal "${all}")  # genex contents are not judged
      if(literal MATCHES "[ ,;]-static-libgcc[ ;]" AND NOT literal MATCHES "[ ;]-static[ ;]"
         AND NOT literal MATCHES "libwinpthread\\.a|-Bstatic")
        list(APPEND refused ${target})
      endif()
    endforeach()
  endforeach()
  if(refused)
    list(JOIN refused ", " names)
    message(FATAL_ERROR
      "modref: ${names}: a DLL linked with -static-libgcc but the shared libwinpthread-1.dll "
      "crashes when it unloads (libgcc's emulated-TLS destructor is compiled into the DLL and "
      "registered with the shared winpthreads, which calls it after the unload; "
      "docs/packaging.md, \"Link modes\"). Link the DLL with -static (libgcc, libstdc++ and "
      "winpthreads inside it) or with the shared runtime (no -static-libgcc/-static-libstdc++). "
      "To build it anyway, set the target property MODREF_ALLOW_MIXED_MINGW_RUNTIME.")
  endif()
endfunction()

# modref_check_link_modes()
# Schedules the check once per configure, at the end of the top-level directory (when every
# target and flag is known). Called by modref's CMakeLists.txt and by modrefConfig.cmake.
function(modref_check_link_modes)
  get_property(scheduled GLOBAL PROPERTY MODREF_LINK_MODE_CHECK_SCHEDULED)
  if(scheduled OR NOT MINGW)
    return()
  endif()
  set_property(GLOBAL PROPERTY MODREF_LINK_MODE_CHECK_SCHEDULED TRUE)
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _modref_check_mingw_link_modes)
endfunction()
