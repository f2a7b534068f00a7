# Finds oneDNN by its header and library, not by its CMake package config.
# Debian's libdnnl-dev is built with the OpenCL GPU runtime, and its
# dnnl-config.cmake then insists on the OpenCL headers (ocl-icd-opencl-dev,
# only a Recommends of libdnnl-dev): a machine without them failed at
# configure time although our C code never touches OpenCL. The C API needs
# only dnnl.h and libdnnl.so.
#
# Sets ONEDNN_FOUND, ONEDNN_VERSION (from dnnl_version.h) and the imported
# target DNNL::dnnl.
find_path(ONEDNN_INCLUDE_DIR oneapi/dnnl/dnnl.h)
find_library(ONEDNN_LIBRARY NAMES dnnl)
set(ONEDNN_FOUND OFF)
set(ONEDNN_VERSION "")
if(ONEDNN_INCLUDE_DIR AND ONEDNN_LIBRARY AND EXISTS ${ONEDNN_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h)
  file(STRINGS ${ONEDNN_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h _dnnl_version_lines
       REGEX "#define DNNL_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+")
  foreach(part MAJOR MINOR PATCH)
    string(REGEX MATCH "DNNL_VERSION_${part} +([0-9]+)" _m "${_dnnl_version_lines}")
    set(_dnnl_${part} ${CMAKE_MATCH_1})
  endforeach()
  set(ONEDNN_VERSION "${_dnnl_MAJOR}.${_dnnl_MINOR}.${_dnnl_PATCH}")
  set(ONEDNN_FOUND ON)
  if(NOT TARGET DNNL::dnnl)
    add_library(DNNL::dnnl UNKNOWN IMPORTED)
    set_target_properties(DNNL::dnnl PROPERTIES IMPORTED_LOCATION ${ONEDNN_LIBRARY}
                          INTERFACE_INCLUDE_DIRECTORIES ${ONEDNN_INCLUDE_DIR})
  endif()
endif()
mark_as_advanced(ONEDNN_INCLUDE_DIR ONEDNN_LIBRARY)
