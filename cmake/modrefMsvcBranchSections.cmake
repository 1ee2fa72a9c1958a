# Run by modref_add_msvc_branch_check (cmake/modrefHeaderCheck.cmake) on the object compiled from
# modref's _MSC_VER branches: the TLS callback pointer must be in the object, in .CRT$XLAM, and the
# object must ask the linker to keep it (/INCLUDE in .drectve). Arguments: -DOBJDUMP=<objdump>
# -DOBJECT=<object file> -DSTAMP=<file written on success>.
execute_process(COMMAND "${OBJDUMP}" -h -t "${OBJECT}" OUTPUT_VARIABLE listing
                RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${OBJDUMP} failed on ${OBJECT}")
endif()
if(NOT listing MATCHES "\\.CRT\\$XLAM")
  message(FATAL_ERROR "MSVC branch check: ${OBJECT} has no .CRT$XLAM section: the TLS callback "
    "pointer of modref/detail/module_lifecycle.h was not emitted (an unreferenced inline variable "
    "is dropped; it must be __declspec(selectany))")
endif()
if(NOT listing MATCHES "modref_detail_tls_callback")
  message(FATAL_ERROR "MSVC branch check: ${OBJECT} defines no modref_detail_tls_callback")
endif()
file(STRINGS "${OBJECT}" directives REGEX "/INCLUDE:")
if(NOT directives MATCHES "/INCLUDE:modref_detail_tls_callback" OR
   NOT directives MATCHES "/INCLUDE:_tls_used")
  message(FATAL_ERROR "MSVC branch check: ${OBJECT} lacks the /INCLUDE directives for the TLS "
    "directory and the callback pointer (found: ${directives})")
endif()
file(WRITE "${STAMP}" "ok\n")
