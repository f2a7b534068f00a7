# ONNX export (alexnet export), when the build has it: onnx.checker (Debian's
# python3-onnx) and onnxruntime from PyPI in a virtualenv under the build dir
# (ALEXNET_ONNX_VENV overrides), against `alexnet predict --logits`. Without
# onnxruntime and a network to install it, the test reports skipped (77).
if(ALEXNET_HAVE_ONNX)
  add_test(NAME onnx_export
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/onnx_test.py $<TARGET_FILE:alexnet>
                   $<TARGET_FILE:data_tool> ${CMAKE_BINARY_DIR}/onnx-venv
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(onnx_export PROPERTIES TIMEOUT 1200 SKIP_RETURN_CODE 77)
endif()
