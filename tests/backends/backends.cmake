# Backend tests. Every backend built is compared with the reference backend
# by one harness (lib/backend_compare.{c,h}) in two programs:
#   test_backend_ops [BACKEND [fp32|bf16 [ROW]]]   the op table
#   test_backend_ops BACKEND int8 [ROW]             the op table's nets quantized (model/quant.h), against ref's int8
#   test_backend_net [BACKEND [fp32|bf16]]         the whole presets
# registered per backend below (test_dnnl_*, test_cuda_*), so each backend's
# results, labels and timeouts are its own. Tests of a backend the build
# lacks are not registered; a registered test skips (77) only when this
# machine lacks what it needs (a GPU, native bf16), and says what.
alexnet_c_test(test_backend_ops ${CMAKE_CURRENT_LIST_DIR}/test_backend_ops.c NO_TEST)
alexnet_c_test(test_backend_net ${CMAKE_CURRENT_LIST_DIR}/test_backend_net.c NO_TEST)

# Whole-network golden test against PyTorch: golden_torch.py (python3-torch)
# writes the reference run, golden_check replays it on every backend built.
alexnet_c_test(golden_check ${CMAKE_CURRENT_LIST_DIR}/golden_check.c NO_TEST)
set(golden_backends ref)
if(ALEXNET_HAVE_DNNL)
  list(APPEND golden_backends dnnl)
endif()
if(ALEXNET_HAVE_CUDA)
  list(APPEND golden_backends cuda)
endif()
foreach(bb alexnet alexnet_2012)
  add_test(NAME golden_gen_${bb}
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/golden_torch.py --backbone ${bb}
                   --out ${CMAKE_CURRENT_BINARY_DIR}/golden_${bb}.safetensors)
  set_tests_properties(golden_gen_${bb} PROPERTIES FIXTURES_SETUP golden_${bb})
  foreach(be ${golden_backends})
    add_test(NAME golden_${bb}_${be}
             COMMAND golden_check ${CMAKE_CURRENT_BINARY_DIR}/golden_${bb}.safetensors ${be})
    set_tests_properties(golden_${bb}_${be} PROPERTIES FIXTURES_REQUIRED golden_${bb})
    if(be STREQUAL "cuda") # no GPU here
      set_tests_properties(golden_${bb}_${be} PROPERTIES SKIP_RETURN_CODE 77 LABELS cuda)
    endif()
  endforeach()
endforeach()

# The oneDNN backend. oneDNN picks its kernels by the CPU's ISA: on AVX-512
# machines the default run uses the AVX-512 kernels (and, on oneDNN 2.x,
# Winograd for the 3x3 convolutions); the *_avx2 runs repeat the op table and
# the 2012 golden test capped at AVX2 (direct kernels only, GEMM first layer),
# so both kernel families are checked on whatever CPU runs the tests. bf16
# runs skip on CPUs without native bf16.
if(ALEXNET_HAVE_DNNL)
  add_test(NAME test_dnnl_ops COMMAND test_backend_ops dnnl fp32)
  add_test(NAME test_dnnl_ops_bf16 COMMAND test_backend_ops dnnl bf16)
  add_test(NAME test_dnnl_ops_avx2 COMMAND test_backend_ops dnnl fp32)
  add_test(NAME test_dnnl_net COMMAND test_backend_net dnnl)
  # int8 (VNNI) on the AVX-512 kernels, and capped at AVX-VNNI (the 256-bit kernels of AVX2 laptops with VNNI);
  # skipped, saying so, on CPUs without VNNI, where the backend refuses int8 (oneDNN's 16-bit pair sums saturate)
  add_test(NAME test_dnnl_int8 COMMAND test_backend_ops dnnl int8)
  add_test(NAME test_dnnl_int8_avx2 COMMAND test_backend_ops dnnl int8)
  set_tests_properties(test_dnnl_int8_avx2 PROPERTIES ENVIRONMENT "ONEDNN_MAX_CPU_ISA=AVX2_VNNI")
  # without the u8 chains (fp32 between int8 layers, each quantizing its own input)
  add_test(NAME test_dnnl_int8_fp32act COMMAND test_backend_ops dnnl int8)
  set_tests_properties(test_dnnl_int8_fp32act PROPERTIES ENVIRONMENT "ALEXNET_DNNL_INT8_U8=0")
  alexnet_c_test(test_dnnl_plan ${CMAKE_CURRENT_LIST_DIR}/test_dnnl_plan.c)
  alexnet_c_test(test_dnnl_compat ${CMAKE_CURRENT_LIST_DIR}/test_dnnl_compat.c)
  alexnet_c_test(test_dnnl_bf16_train ${CMAKE_CURRENT_LIST_DIR}/test_dnnl_bf16_train.c)
  add_test(NAME golden_alexnet_2012_dnnl_avx2
           COMMAND golden_check ${CMAKE_CURRENT_BINARY_DIR}/golden_alexnet_2012.safetensors dnnl)
  set_tests_properties(golden_alexnet_2012_dnnl_avx2 PROPERTIES FIXTURES_REQUIRED golden_alexnet_2012)
  set_tests_properties(test_dnnl_ops_avx2 golden_alexnet_2012_dnnl_avx2 PROPERTIES ENVIRONMENT "ONEDNN_MAX_CPU_ISA=AVX2")
  set(dnnl_tests test_dnnl_ops test_dnnl_ops_bf16 test_dnnl_ops_avx2 test_dnnl_net test_dnnl_plan test_dnnl_compat
                 test_dnnl_bf16_train golden_alexnet_2012_dnnl_avx2 test_dnnl_int8 test_dnnl_int8_avx2
                 test_dnnl_int8_fp32act)
  set_tests_properties(${dnnl_tests} PROPERTIES WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR} LABELS dnnl)
  set_tests_properties(test_dnnl_ops_bf16 test_dnnl_bf16_train test_dnnl_int8 test_dnnl_int8_avx2 test_dnnl_int8_fp32act PROPERTIES
                       SKIP_RETURN_CODE 77)
  # the whole-net comparison spends its time in oneDNN, which is not instrumented; our glue runs under the
  # sanitizers in test_dnnl_ops, test_dnnl_plan and every training test (3.5 minutes saved in CI)
  set_property(TEST test_dnnl_net APPEND PROPERTY LABELS no_asan)
  # the same op cases at bf16 and capped at AVX2 change oneDNN's kernels, not our glue, which test_dnnl_ops,
  # test_dnnl_bf16_train and golden_alexnet_dnnl_bf16 run under the sanitizers
  set_property(TEST test_dnnl_ops_bf16 test_dnnl_ops_avx2 APPEND PROPERTY LABELS no_asan)
  # the plan's layouts against ref: oneDNN's time again (70 s there); the plan code runs under the sanitizers
  # in every dnnl training test
  set_property(TEST test_dnnl_plan APPEND PROPERTY LABELS no_asan)
  # bf16 on the oneDNN backend against PyTorch's CPU autocast bf16
  add_test(NAME golden_gen_alexnet_bf16
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/golden_torch.py --backbone alexnet --autocast
                   --out ${CMAKE_CURRENT_BINARY_DIR}/golden_alexnet_bf16.safetensors)
  set_tests_properties(golden_gen_alexnet_bf16 PROPERTIES FIXTURES_SETUP golden_alexnet_bf16)
  add_test(NAME golden_alexnet_dnnl_bf16
           COMMAND golden_check ${CMAKE_CURRENT_BINARY_DIR}/golden_alexnet_bf16.safetensors dnnl bf16)
  set_tests_properties(golden_alexnet_dnnl_bf16 PROPERTIES FIXTURES_REQUIRED golden_alexnet_bf16 SKIP_RETURN_CODE 77)
endif()

# The cuda backend: skipped (77) on a machine without a GPU; timeouts sized
# for the GPU machine (the reference backend runs beside it on the CPU). The
# NCCL all-reduce is its own program and entry (test_cuda_comm), registered
# when the cuda backend was built with NCCL (src/backend/cuda/CMakeLists.txt
# finds it the same way).
if(ALEXNET_HAVE_CUDA)
  add_test(NAME test_cuda_ops COMMAND test_backend_ops cuda)
  add_test(NAME test_cuda_net COMMAND test_backend_net cuda)
  set_tests_properties(test_cuda_ops PROPERTIES TIMEOUT 300)
  set_tests_properties(test_cuda_net PROPERTIES TIMEOUT 400)
  set(cuda_tests test_cuda_ops test_cuda_net)
  if(NOT ALEXNET_WITH_NCCL STREQUAL "OFF" AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    alexnet_c_test(test_cuda_comm ${CMAKE_CURRENT_LIST_DIR}/test_cuda_comm.c)
    set_tests_properties(test_cuda_comm PROPERTIES TIMEOUT 120)
    list(APPEND cuda_tests test_cuda_comm)
  endif()
  set_tests_properties(${cuda_tests} PROPERTIES WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR} SKIP_RETURN_CODE 77
                       LABELS cuda)
endif()
