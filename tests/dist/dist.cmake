# Data-parallel tests over Open MPI (only when the build has MPI).
if(ALEXNET_HAVE_MPI)
  # On localhost (mpi_test.py). Two ranks need both cores: keep these from
  # running beside other tests. Open MPI's runtime leaks small blocks by design
  # (its plugins are dlclosed before LeakSanitizer runs, so they can't be
  # suppressed by name): leak checking is off for the multi-process runs only;
  # ASan/UBSan stay on.
  foreach(group equivalence eval failure contract pack)
    add_test(NAME mpi_${group}
             COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/mpi_test.py $<TARGET_FILE:alexnet> ${MPIEXEC_EXECUTABLE} ${group}
             WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
    set_tests_properties(mpi_${group} PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE
                         ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endforeach()
  # the numerics of 2 ranks against 1 (run serially: 3.5 minutes under the sanitizers); the distributed code
  # paths run under them in mpi_eval, mpi_failure, mpi_contract and mpi_pack
  set_property(TEST mpi_equivalence APPEND PROPERTY LABELS no_asan)
  # Two-node cluster tests over TCP (cluster_test.py): network namespaces on
  # this machine as nodes, launched by mpirun with a hostfile (and Slurm).
  # They need root for the namespaces and exit 77, skipped, without it.
  foreach(group mpirun eval node_loss slurm)
    add_test(NAME cluster_${group}
             COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cluster_test.py $<TARGET_FILE:alexnet> ${MPIEXEC_EXECUTABLE} ${group}
             WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
    # two ranks need both cores; Open MPI's leaks as above
    set_tests_properties(cluster_${group} PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
                         LABELS cluster ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endforeach()
  # The two long ones test orchestration (Slurm's daemons, a lost node and the
  # resume), not our memory use: the optimised build runs them, the sanitizer
  # run (make test-asan: -LE no_asan) does not. cluster_mpirun and cluster_eval
  # still run the same dist.c code under ASan over TCP.
  set_property(TEST cluster_node_loss cluster_slurm APPEND PROPERTY LABELS no_asan)
endif()
