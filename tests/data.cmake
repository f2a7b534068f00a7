# The image pipeline (src/data): Python drivers compare data_tool's output with
# PIL and torchvision (python3-pil, python3-torchvision), exercise broken files
# and the prepare / bench-data commands. test_data_loader.c is picked up by the
# test_*.c glob.
add_executable(data_tool ${CMAKE_CURRENT_SOURCE_DIR}/data_tool.c)
target_compile_options(data_tool PRIVATE ${ALEXNET_WARNINGS})
target_link_libraries(data_tool PRIVATE test_harness)

foreach(t decode transforms bad_files)
  add_test(NAME data_${t} COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/data_${t}.py $<TARGET_FILE:data_tool>
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
endforeach()
add_test(NAME data_cli COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/data_cli.py $<TARGET_FILE:alexnet>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME data_pack COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/data_pack.py $<TARGET_FILE:data_tool>
         $<TARGET_FILE:alexnet> WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(data_decode data_transforms data_bad_files data_cli data_pack PROPERTIES TIMEOUT 300 LABELS data)
set_tests_properties(test_data_loader PROPERTIES LABELS data)
