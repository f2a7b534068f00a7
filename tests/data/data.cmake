# The image pipeline (src/data): the threaded loader (test_data_loader.c), and
# Python drivers that compare data_tool's output with PIL and torchvision
# (python3-pil, python3-torchvision), exercise broken files and the prepare /
# bench-data commands.
alexnet_c_test(test_data_loader ${CMAKE_CURRENT_LIST_DIR}/test_data_loader.c)
set_tests_properties(test_data_loader PROPERTIES LABELS data)
foreach(t decode transforms autoaugment bad_files)
  add_test(NAME data_${t} COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/data_${t}.py $<TARGET_FILE:data_tool>
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
endforeach()
add_test(NAME data_cli COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/data_cli.py $<TARGET_FILE:alexnet>
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
add_test(NAME data_pack COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/data_pack.py $<TARGET_FILE:data_tool>
         $<TARGET_FILE:alexnet> WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(data_decode data_transforms data_autoaugment data_bad_files data_cli data_pack PROPERTIES TIMEOUT 300 LABELS data)
# One epoch of a pack inside a memory cgroup of a third of it (issue 29): completes with bounded disk reads.
# Needs root and a memory cgroup (skipped, saying why, without); not under the sanitizers, whose own memory
# would be charged to the cgroup.
add_test(NAME data_pack_cgroup COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/data_pack_cgroup.py $<TARGET_FILE:alexnet>
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(data_pack_cgroup PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 LABELS "data;no_asan")
# The eval geometry (--val_resize_size, --val_crop_size, --train_crop_size)
# and --tta flip against torchvision's transforms and model (geometry_test.py).
add_test(NAME geometry_transforms
         COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/geometry_test.py transforms $<TARGET_FILE:data_tool>
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
add_test(NAME geometry_cli
         COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/geometry_test.py cli $<TARGET_FILE:alexnet>
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(geometry_transforms PROPERTIES TIMEOUT 300 LABELS data)
set_tests_properties(geometry_cli PROPERTIES TIMEOUT 900)
