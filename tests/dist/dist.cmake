# Data-parallel tests over Open MPI (only when the build has MPI).
if(ALEXNET_HAVE_MPI)
  # On localhost (mpi_test.py). Two ranks need both cores: keep these from
  # running beside other tests. Open MPI's runtime leaks small blocks by design
  # (its plugins are dlclosed before LeakSanitizer runs, so they can't be
  # suppressed by name): leak checking is off for the multi-process runs only;
  # ASan/UBSan stay on.
  foreach(group equivalence eval failure contract pack scan)
    add_test(NAME mpi_${group}
             COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/mpi_test.py $<TARGET_FILE:alexnet> ${MPIEXEC_EXECUTABLE} ${group}
             WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
    set_tests_properties(mpi_${group} PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE
                         ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endforeach()
  # mpi_equivalence: 1 minute serial, 3.5 under the sanitizers; labelled `long` (make test-long); recipe_accum
  # compares 2 ranks with one in `make test`
  set_property(TEST mpi_equivalence APPEND PROPERTY LABELS long)
  # failure, contract and pack start and stop ranks many times (1.5-2 minutes each, serial, under the
  # sanitizers); dist.c runs under them in mpi_eval, cluster_mpirun and cluster_eval
  set_property(TEST mpi_failure mpi_contract mpi_pack APPEND PROPERTY LABELS no_asan)
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
  # The two long ones test orchestration (Slurm's daemons, a lost node and the resume), 2+ minutes each and
  # serial: labelled `long`, run by `make test-long`, not by `make test` (CI). cluster_mpirun and cluster_eval
  # run the same dist.c code over TCP in `make test`, also under ASan.
  set_property(TEST cluster_node_loss cluster_slurm APPEND PROPERTY LABELS long)
endif()
