# End-to-end tests of the alexnet program (cli_test.py), one ctest per group.
foreach(group basic resume checkpoints interop predict)
  add_test(NAME cli_${group} COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli_test.py $<TARGET_FILE:alexnet> ${group}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(cli_${group} PROPERTIES TIMEOUT 900)
endforeach()
# Issue 12's parser items through the program (hostile checkpoints, images, IDX).
add_test(NAME parsers_cli COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/parsers_cli.py $<TARGET_FILE:alexnet>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(parsers_cli PROPERTIES TIMEOUT 600)
if(ALEXNET_SANITIZE)
  set_tests_properties(parsers_cli PROPERTIES ENVIRONMENT "ALEXNET_ASAN=1")
endif()
