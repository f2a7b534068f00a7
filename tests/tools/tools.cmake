# Programs the tests drive. data_tool runs the image pipeline (src/data) on
# one file or folder and writes what it produced, for the Python drivers in
# data/ that compare it with PIL and torchvision (see the top of data_tool.c).
alexnet_c_test(data_tool ${CMAKE_CURRENT_LIST_DIR}/data_tool.c NO_TEST)
