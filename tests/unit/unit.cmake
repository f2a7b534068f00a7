# C tests of single modules: every unit/test_*.c is an executable registered
# under its file name.
file(GLOB unit_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/test_*.c)
foreach(src ${unit_sources})
  get_filename_component(name ${src} NAME_WE)
  alexnet_c_test(${name} ${src})
endforeach()
