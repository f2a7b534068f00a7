# The eval geometry (--val_resize_size, --val_crop_size, --train_crop_size)
# and --tta flip against torchvision's transforms and model (geometry_test.py).
add_test(NAME geometry_transforms
         COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/geometry_test.py transforms $<TARGET_FILE:data_tool>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME geometry_cli
         COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/geometry_test.py cli $<TARGET_FILE:alexnet>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(geometry_transforms PROPERTIES TIMEOUT 300 LABELS data)
set_tests_properties(geometry_cli PROPERTIES TIMEOUT 900)
