# The alexnet program end to end, one ctest per group of each driver.
# cli_test.py: training, resume, checkpoints, torchvision interop, predict.
foreach(group basic resume checkpoints interop predict)
  add_test(NAME cli_${group} COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cli_test.py $<TARGET_FILE:alexnet> ${group}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(cli_${group} PROPERTIES TIMEOUT 900)
endforeach()
# The command line a new user and a PyTorch user meet (cli_habits_test.py, issue 19).
foreach(group flags outputs)
  add_test(NAME cli_habits_${group}
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cli_habits_test.py $<TARGET_FILE:alexnet> ${group}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(cli_habits_${group} PROPERTIES TIMEOUT 600)
endforeach()
# Issue 12's parser items through the program (hostile checkpoints, images, IDX).
add_test(NAME parsers_cli COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/parsers_cli.py $<TARGET_FILE:alexnet>
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(parsers_cli PROPERTIES TIMEOUT 600)
if(ALEXNET_SANITIZE)
  set_tests_properties(parsers_cli PROPERTIES ENVIRONMENT "ALEXNET_ASAN=1")
endif()
# A training run's contract and outputs (train_test.py).
foreach(group contract resume outputs help finetune freeze ema pack precision)
  add_test(NAME train_${group} COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/train_test.py $<TARGET_FILE:alexnet> ${group}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(train_${group} PROPERTIES TIMEOUT 900)
endforeach()
# Left out of the sanitizer run (1.5-2.5 minutes each there; .ci/run has 45 minutes): these repeat training
# runs whose code the sanitizers see in other tests. resume and contract: the resume and fingerprint paths run
# in cli_resume, train_ema and recipe_accum; precision: bf16 training in test_dnnl_bf16_train.
set_property(TEST train_resume train_contract train_precision APPEND PROPERTY LABELS no_asan)
# freeze and ema: 2 minutes each there, repeated runs around a few lines of arithmetic (the frozen tensors'
# skipped update, ema_update) that test_freeze and the resume tests run under the sanitizers; geometry_cli:
# the transforms' geometry runs under them in geometry_transforms and data_transforms
set_property(TEST train_freeze train_ema geometry_cli APPEND PROPERTY LABELS no_asan)
# ONNX export (alexnet export), when the build has it: onnx.checker (Debian's
# python3-onnx) and onnxruntime from PyPI in a virtualenv under the build dir
# (ALEXNET_ONNX_VENV overrides), against `alexnet predict --logits`. Without
# onnxruntime and a network to install it, the test reports skipped (77).
if(ALEXNET_HAVE_ONNX)
  add_test(NAME onnx_export
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/onnx_test.py $<TARGET_FILE:alexnet>
                   $<TARGET_FILE:data_tool> ${CMAKE_BINARY_DIR}/onnx-venv
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(onnx_export PROPERTIES TIMEOUT 1200 SKIP_RETURN_CODE 77)
endif()
# The second hardening round's defect classes and the time budget (trust_test.py).
foreach(group memory finite fifo utf8 buffers kill firsthour predict budget budget_clock)
  add_test(NAME trust_${group} COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/trust_test.py $<TARGET_FILE:alexnet> ${group}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(trust_${group} PROPERTIES TIMEOUT 900)
endforeach()
# Labelled `long`: left out of `make test` (and so of CI, which has to finish in 45 minutes) and run by
# `make test-long`. budget_clock times a real 40 s budget (and is noisy beside other tests); kill kills at 11
# write phases, each resumed (11 sequential runs, 3 minutes). The resume paths run in `make test` in
# cli_resume, train_ema and recipe_accum (also under the sanitizers), the budget's plans with the test clock
# in trust_budget.
set_property(TEST trust_budget_clock trust_kill APPEND PROPERTY LABELS long)
# firsthour: ten first-hour runs (2.5 minutes under the sanitizers) through train, eval and predict paths that
# cli_basic, cli_predict and trust_predict run under them
set_property(TEST trust_firsthour APPEND PROPERTY LABELS no_asan)
# budget: ~50 real steps per planned run (2 minutes under the sanitizers) around the plan's arithmetic
set_property(TEST trust_budget APPEND PROPERTY LABELS no_asan)
# int8 models (issue 28): alexnet quantize, the int8 file and its checks, the ref backend's int8 logits against the
# scheme restated in torch, hostile int8 files, the commands that refuse one.
add_test(NAME quant_int8 COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/quant_test.py $<TARGET_FILE:alexnet>
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(quant_int8 PROPERTIES TIMEOUT 1200)
# Not under the sanitizers: minutes of reference-backend runs of a 61M-parameter net there; the int8 ops and the
# scheme's arithmetic run under them in test_quant, the int8 file's reader in fuzz_replay_safetensors.
set_property(TEST quant_int8 APPEND PROPERTY LABELS no_asan)
# Beyond the recipe, against the reference each feature copies (recipe_test.py, issue 27).
# The tensorboard group reads the logs with the `tensorboard` package from PyPI, in a virtualenv under the build
# dir (made on first use; without a network it reports skipped, 77, after its own CRC checks).
foreach(group average per_class ra_sampler accum tensorboard mix class_balance autoaugment progressive)
  add_test(NAME recipe_${group}
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/recipe_test.py $<TARGET_FILE:alexnet> ${group}
                   ${CMAKE_BINARY_DIR}/tb-venv
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(recipe_${group} PROPERTIES TIMEOUT 1500 SKIP_RETURN_CODE 77)
endforeach()
# training runs around code that runs under the sanitizers in data_autoaugment (the ops, the draws and the train
# transform through data_tool) and test_config (the flags)
set_property(TEST recipe_autoaugment APPEND PROPERTY LABELS no_asan)
# 2.5 and 2 minutes there (.ci/run has 45 minutes), repeated training runs around code the sanitizers see
# elsewhere: accum's micro-batch sums are three loops over the gradient buffer beside the trainer that cli_resume
# runs under them, its resume path is cli_resume's, its 2-rank run the MPI tests'; class_balance's sampler runs
# under them in test_data_loader (test_balanced), its loss weights in test_ops_gradcheck
set_property(TEST recipe_accum recipe_class_balance APPEND PROPERTY LABELS no_asan)
# progressive under the sanitizers (ALEXNET_ASAN): one stop and resume instead of two
if(ALEXNET_SANITIZE)
  set_tests_properties(recipe_progressive PROPERTIES ENVIRONMENT "ALEXNET_ASAN=1")
endif()
if(NOT ALEXNET_HAVE_TENSORBOARD)
  set_tests_properties(recipe_tensorboard PROPERTIES DISABLED TRUE)
endif()
# `make run`'s job script (scripts/run-fashion-mnist.sh): its variables checked before any work, and the job
# end to end on a small dataset under the budget's test clock.
foreach(group check job)
  add_test(NAME make_run_${group}
           COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/make_run_test.py $<TARGET_FILE:alexnet> ${group}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(make_run_${group} PROPERTIES TIMEOUT 600)
endforeach()
# the job's training and evaluation run under the sanitizers in cli_basic and train_outputs; the script has
# nothing for them to see
set_property(TEST make_run_job APPEND PROPERTY LABELS no_asan)
