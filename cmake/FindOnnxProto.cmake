# ONNX export's parts: protobuf-c (libprotobuf-c-dev: library and headers;
# protobuf-c-compiler: protoc-c) and ONNX's schema, onnx.proto, from Debian's
# libonnx-dev. Sets ONNX_PROTO_FOUND, PROTOC_C, PROTOBUF_C_INCLUDE_DIR,
# PROTOBUF_C_LIBRARY, ONNX_PROTO_FILE and PROTOBUF_C_VERSION.
find_program(PROTOC_C protoc-c)
find_path(PROTOBUF_C_INCLUDE_DIR protobuf-c/protobuf-c.h)
find_library(PROTOBUF_C_LIBRARY protobuf-c)
find_file(ONNX_PROTO_FILE onnx/onnx.proto)
set(ONNX_PROTO_FOUND OFF)
if(PROTOC_C AND PROTOBUF_C_INCLUDE_DIR AND PROTOBUF_C_LIBRARY AND ONNX_PROTO_FILE)
  set(ONNX_PROTO_FOUND ON)
  file(STRINGS ${PROTOBUF_C_INCLUDE_DIR}/protobuf-c/protobuf-c.h _v REGEX "^#define PROTOBUF_C_VERSION[ \t]+\"")
  string(REGEX REPLACE ".*\"(.*)\".*" "\\1" PROTOBUF_C_VERSION "${_v}")
endif()
