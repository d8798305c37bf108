# possync_embed_assets(<out_var> NAME <name> DIR <dir> NAMESPACE <ns> HEADER <header> [DEPENDS <file>...])
#
# Embeds every file of <dir> into the binary: a custom command runs
# dashboard/embed_assets.cmake to generate <name>_assets.cpp, which defines
# <ns>::embedded_assets() as declared in <header> (see dashboard/assets.hpp),
# and stores the generated file's path in <out_var> for add_library. The
# glob is CONFIGURE_DEPENDS, so a new file is picked up without re-running
# cmake by hand; DEPENDS names files the directory only links to.
function(possync_embed_assets out_var)
  cmake_parse_arguments(arg "" "NAME;DIR;NAMESPACE;HEADER" "DEPENDS" ${ARGN})
  set(script ${PROJECT_SOURCE_DIR}/dashboard/embed_assets.cmake)
  file(GLOB files CONFIGURE_DEPENDS ${arg_DIR}/*)
  set(output ${CMAKE_CURRENT_BINARY_DIR}/${arg_NAME}_assets.cpp)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND}
            -DASSETS_DIR=${arg_DIR}
            -DOUTPUT=${output}
            -DNAMESPACE=${arg_NAMESPACE}
            -DHEADER=${arg_HEADER}
            -P ${script}
    DEPENDS ${files} ${arg_DEPENDS} ${script}
    COMMENT "Embedding the ${arg_NAME} page"
    VERBATIM)
  set(${out_var} ${output} PARENT_SCOPE)
endfunction()
