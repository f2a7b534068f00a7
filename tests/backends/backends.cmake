# Backend tests: the fast backends against the reference, backend-specific
# checks, and the golden test against PyTorch on every backend built.
file(GLOB backend_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/test_*.c)
foreach(src ${backend_sources})
  get_filename_component(name ${src} NAME_WE)
  alexnet_c_test(${name} ${src})
endforeach()
# Whole-network golden test against PyTorch: golden_torch.py (python3-torch)
# writes the reference run, golden_check replays it on every backend built.
add_executable(golden_check ${CMAKE_CURRENT_LIST_DIR}/golden_check.c)
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
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/golden_torch.py --backbone ${bb}
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
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/golden_torch.py --backbone alexnet --autocast
                   --out ${CMAKE_CURRENT_BINARY_DIR}/golden_alexnet_bf16.safetensors)
  set_tests_properties(golden_gen_alexnet_bf16 PROPERTIES FIXTURES_SETUP golden_alexnet_bf16)
  add_test(NAME golden_alexnet_dnnl_bf16
           COMMAND golden_check ${CMAKE_CURRENT_BINARY_DIR}/golden_alexnet_bf16.safetensors dnnl bf16)
  set_tests_properties(golden_alexnet_dnnl_bf16 PROPERTIES FIXTURES_REQUIRED golden_alexnet_bf16 SKIP_RETURN_CODE 77)
endif()
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
# GPU tests and the GPU benchmark program. test_cuda_*.c are registered by
# tests/CMakeLists.txt like every test; here they learn that exit 77 means
# "skipped" (no CUDA build, or no GPU on this machine) and get timeouts sized
# for a GPU machine (they run the reference backend too). The NCCL part of
# test_cuda_net runs as its own entry, test_cuda_comm. bench/gpu_bench.c is
# built alongside (bench/gpu.sh runs it on the GPU machine).
if(TEST test_cuda_net)
  add_test(NAME test_cuda_comm COMMAND test_cuda_net comm WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endif()
foreach(t test_cuda_ops test_cuda_net test_cuda_comm)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endforeach()
if(TEST test_cuda_ops)
  set_tests_properties(test_cuda_ops PROPERTIES TIMEOUT 300)
  set_tests_properties(test_cuda_net PROPERTIES TIMEOUT 400)
  set_tests_properties(test_cuda_comm PROPERTIES TIMEOUT 120)
endif()

