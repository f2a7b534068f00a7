# End-to-end tests of a training run's contract and outputs (train_test.py),
# one ctest per group.
foreach(group contract resume outputs help finetune freeze ema pack precision)
  add_test(NAME train_${group} COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/train_test.py $<TARGET_FILE:alexnet> ${group}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(train_${group} PROPERTIES TIMEOUT 900)
endforeach()
