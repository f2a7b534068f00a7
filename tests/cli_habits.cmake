# The command line a new user and a PyTorch user meet (cli_habits_test.py,
# issue 19), one ctest per group; and every repository path the README and
# docs/*.md name exists (doc_paths.py); the op table of docs/ARCHITECTURE.md
# names functions that exist (doc_ops_table.py).
foreach(group flags outputs)
  add_test(NAME cli_habits_${group}
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli_habits_test.py $<TARGET_FILE:alexnet> ${group}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(cli_habits_${group} PROPERTIES TIMEOUT 600)
endforeach()
add_test(NAME doc_paths COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/doc_paths.py ${CMAKE_SOURCE_DIR})
add_test(NAME doc_ops_table COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/doc_ops_table.py ${CMAKE_SOURCE_DIR})
