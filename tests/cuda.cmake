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

add_executable(gpu_bench ${CMAKE_SOURCE_DIR}/bench/gpu_bench.c)
target_compile_options(gpu_bench PRIVATE ${ALEXNET_WARNINGS})
target_link_libraries(gpu_bench PRIVATE alexnet_core)
