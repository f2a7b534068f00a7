/*
 * dnnl_util.h — the oneDNN check macro and small helpers for memory
 * descriptors, memory objects and primitive execution.
 *
 * DNNL_CHECK(call): a failed oneDNN call is an internal failure; it reports
 * file:line, the call and the status name, and exits 1 (common/util.h).
 */
#ifndef ALEXNET_DNNL_UTIL_H
#define ALEXNET_DNNL_UTIL_H

#include <oneapi/dnnl/dnnl.h>

#include "common/util.h"

void dnnl_check_at(dnnl_status_t s, const char *call, const char *file, int line);
#define DNNL_CHECK(call) dnnl_check_at((call), #call, __FILE__, __LINE__)

/* [n, c, h, w] with a format tag (dnnl_nchw, dnnl_format_tag_any, ...). */
dnnl_memory_desc_t md4(int n, int c, int h, int w, dnnl_format_tag_t tag);
/* [d0] or [d0, d1] plain. */
dnnl_memory_desc_t md1(int d0);
dnnl_memory_desc_t md2(int d0, int d1);
int md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b);
size_t md_bytes(const dnnl_memory_desc_t *md);
/* "nChw16c"-like summary of a blocked md, for logs ("?" when unnamed). */
void md_describe(const dnnl_memory_desc_t *md, char *buf, size_t len);

/* The memory-desc query of a primitive descriptor, by value. */
dnnl_memory_desc_t pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what);
const char *pd_impl(const_dnnl_primitive_desc_t pd);

/* One primitive with its argument list, fixed at create() time. */
#define DNNL_MAX_ARGS 10
typedef struct {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[DNNL_MAX_ARGS];
} DnnlExec;

void exec_add(DnnlExec *e, int arg, dnnl_memory_t mem);
void exec_run(const DnnlExec *e, dnnl_stream_t stream);
void exec_free(DnnlExec *e);

#endif
