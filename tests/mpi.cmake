# Data-parallel tests over Open MPI on localhost (only when the build has MPI).
if(ALEXNET_HAVE_MPI)
  foreach(group equivalence eval failure contract pack)
    add_test(NAME mpi_${group}
             COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/mpi_test.py $<TARGET_FILE:alexnet> ${MPIEXEC_EXECUTABLE} ${group}
             WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
    # two ranks need both cores: keep these from running beside other tests
    # Open MPI's runtime leaks small blocks by design (its plugins are dlclosed
    # before LeakSanitizer runs, so they can't be suppressed by name): leak
    # checking is off for the multi-process runs only; ASan/UBSan stay on.
    set_tests_properties(mpi_${group} PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE
                         ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endforeach()
endif()
