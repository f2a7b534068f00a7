# oneDNN backend tests. test_dnnl_ops / test_dnnl_net / test_dnnl_compat (registered by the glob
# in CMakeLists.txt) exit 77, skipped, when the build has no dnnl backend.
# oneDNN picks its kernels by the CPU's ISA: on AVX-512 machines the default
# run uses the AVX-512 kernels (and, on oneDNN 2.x, Winograd for the 3x3 convolutions); the
# *_avx2 runs repeat the op-by-op test and the 2012 golden test capped at
# AVX2 (direct kernels only, GEMM first layer), so both kernel families are
# checked on whatever CPU runs the tests.
foreach(t test_dnnl_ops test_dnnl_net test_dnnl_compat test_dnnl_bf16_train)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77 LABELS dnnl)
  endif()
endforeach()
if(ALEXNET_HAVE_DNNL)
  # bf16 op by op against the fp32 reference (skipped without native bf16)
  add_test(NAME test_dnnl_ops_bf16 COMMAND test_dnnl_ops bf16)
  set_tests_properties(test_dnnl_ops_bf16 PROPERTIES SKIP_RETURN_CODE 77 LABELS dnnl)
  add_test(NAME test_dnnl_ops_avx2 COMMAND test_dnnl_ops WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  add_test(NAME golden_alexnet_2012_dnnl_avx2
           COMMAND golden_check ${CMAKE_CURRENT_BINARY_DIR}/golden_alexnet_2012.safetensors dnnl)
  set_tests_properties(test_dnnl_ops_avx2 golden_alexnet_2012_dnnl_avx2 PROPERTIES
                       ENVIRONMENT "ONEDNN_MAX_CPU_ISA=AVX2" SKIP_RETURN_CODE 77 LABELS dnnl)
  set_tests_properties(golden_alexnet_2012_dnnl_avx2 PROPERTIES FIXTURES_REQUIRED golden_alexnet_2012)
endif()
