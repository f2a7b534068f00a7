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

#include "backend/dnnl/dnnl_compat.h"
#include "common/util.h"

void dnnl_check_at(dnnl_status_t s, const char *call, const char *file, int line);
#define DNNL_CHECK(call) dnnl_check_at((call), #call, __FILE__, __LINE__)

/* Descs owned by pool (f32 unless a data type is given): [n, c, h, w] with a format tag (dnnl_nchw,
 * dnnl_format_tag_any, ...); [d0] or [d0, d1] plain. */
Md md4(MdPool *pool, int n, int c, int h, int w, dnnl_format_tag_t tag);
Md md1(MdPool *pool, int d0);
Md md2(MdPool *pool, int d0, int d1);
/* The same with a data type (dnnl_f32 or dnnl_bf16). */
Md md4t(MdPool *pool, int n, int c, int h, int w, dnnl_data_type_t dt, dnnl_format_tag_t tag);
Md md2t(MdPool *pool, int d0, int d1, dnnl_data_type_t dt);
/* "nChw16c"-like summary of a blocked md, for logs ("?" when unnamed). */
void md_describe(Md md, char *buf, size_t len);
/* The channel block of an [n, c, h, w] md (16 for nChw16c), 0 when unblocked. */
int md_channel_block(Md md);

/* The memory-desc query of a primitive descriptor; fails when it has none. */
Md pd_md(MdPool *pool, const_dnnl_primitive_desc_t pd, dnnl_query_t what);
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
