# End-to-end tests of the alexnet program (cli_test.py), one ctest per group.
foreach(group basic resume checkpoints interop)
  add_test(NAME cli_${group} COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli_test.py $<TARGET_FILE:alexnet> ${group}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(cli_${group} PROPERTIES TIMEOUT 900)
endforeach()
