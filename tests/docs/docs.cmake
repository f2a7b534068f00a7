# Every repository path README.md and docs/*.md name exists (doc_paths.py);
# the op table of docs/ARCHITECTURE.md names functions that exist
# (doc_ops_table.py).
add_test(NAME doc_paths COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/doc_paths.py ${CMAKE_SOURCE_DIR})
add_test(NAME doc_ops_table COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/doc_ops_table.py ${CMAKE_SOURCE_DIR})
# Rules the defect classes depend on: one JSON writer, switches read once and
# documented, one checked open, the vtable private (code_rules.py).
add_test(NAME code_rules COMMAND ${ALEXNET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/code_rules.py ${CMAKE_SOURCE_DIR})
