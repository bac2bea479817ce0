# linkd_embed_files(TARGET <name> NAMESPACE <ns> FILES <f>...)
#
# Turns data files into a C++ source that holds each file as a
# std::string_view constant, so the binaries carry their reference data and
# never read the source tree at run time. A CMake script is used (not xxd or
# ld -r) because it needs nothing beyond CMake on the build machine.
function(linkd_embed_files)
  cmake_parse_arguments(ARG "" "TARGET;NAMESPACE" "FILES" ${ARGN})
  set(out_cc "${CMAKE_CURRENT_BINARY_DIR}/${ARG_TARGET}.cc")
  set(out_h "${CMAKE_CURRENT_BINARY_DIR}/${ARG_TARGET}.h")
  add_custom_command(
    OUTPUT "${out_cc}" "${out_h}"
    COMMAND ${CMAKE_COMMAND} -DOUT_CC=${out_cc} -DOUT_H=${out_h}
            -DNAMESPACE=${ARG_NAMESPACE} "-DFILES=${ARG_FILES}"
            -P "${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake"
    DEPENDS ${ARG_FILES} "${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake"
    COMMENT "Embedding reference data into ${ARG_TARGET}"
    VERBATIM)
  add_library(${ARG_TARGET} STATIC "${out_cc}")
  target_include_directories(${ARG_TARGET} PUBLIC "${CMAKE_CURRENT_BINARY_DIR}")
endfunction()
