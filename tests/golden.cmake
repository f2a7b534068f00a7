# Whole-network golden test against PyTorch: golden_torch.py (python3-torch)
# writes the reference run, golden_check replays it on every backend built.
add_executable(golden_check ${CMAKE_CURRENT_SOURCE_DIR}/golden_check.c)
target_compile_options(golden_check PRIVATE ${ALEXNET_WARNINGS})
target_link_libraries(golden_check PRIVATE test_harness)

set(golden_backends ref)
if(ALEXNET_HAVE_DNNL)
  list(APPEND golden_backends dnnl)
endif()
if(ALEXNET_HAVE_CUDA)
  list(APPEND golden_backends cuda)
endif()
foreach(bb alexnet alexnet_2012)
  add_test(NAME golden_gen_${bb}
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/golden_torch.py --backbone ${bb}
                   --out ${CMAKE_CURRENT_BINARY_DIR}/golden_${bb}.safetensors)
  set_tests_properties(golden_gen_${bb} PROPERTIES FIXTURES_SETUP golden_${bb})
  foreach(be ${golden_backends})
    add_test(NAME golden_${bb}_${be}
             COMMAND golden_check ${CMAKE_CURRENT_BINARY_DIR}/golden_${bb}.safetensors ${be})
    set_tests_properties(golden_${bb}_${be} PROPERTIES FIXTURES_REQUIRED golden_${bb} SKIP_RETURN_CODE 77)
  endforeach()
endforeach()
# bf16 on the oneDNN backend against PyTorch's CPU autocast bf16 (skipped without native bf16)
if(ALEXNET_HAVE_DNNL)
  add_test(NAME golden_gen_alexnet_bf16
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/golden_torch.py --backbone alexnet --autocast
                   --out ${CMAKE_CURRENT_BINARY_DIR}/golden_alexnet_bf16.safetensors)
  set_tests_properties(golden_gen_alexnet_bf16 PROPERTIES FIXTURES_SETUP golden_alexnet_bf16)
  add_test(NAME golden_alexnet_dnnl_bf16
           COMMAND golden_check ${CMAKE_CURRENT_BINARY_DIR}/golden_alexnet_bf16.safetensors dnnl bf16)
  set_tests_properties(golden_alexnet_dnnl_bf16 PROPERTIES FIXTURES_REQUIRED golden_alexnet_bf16 SKIP_RETURN_CODE 77)
endif()
