/*
 * dnnl_util.c — implementation of the oneDNN helpers in dnnl_util.h.
 */
#include "backend/dnnl/dnnl_util.h"

#include <oneapi/dnnl/dnnl_debug.h>
#include <stdio.h>
#include <string.h>

void dnnl_check_at(dnnl_status_t s, const char *call, const char *file, int line) {
    if (s != dnnl_success) fatal_at(file, line, "oneDNN call failed with %s: %s", dnnl_status2str(s), call);
}

dnnl_memory_desc_t md4(int n, int c, int h, int w, dnnl_format_tag_t tag) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {n, c, h, w};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, tag));
    return md;
}

dnnl_memory_desc_t md1(int d0) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {d0};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_f32, dnnl_a));
    return md;
}

dnnl_memory_desc_t md2(int d0, int d1) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {d0, d1};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&md, 2, d, dnnl_f32, dnnl_ab));
    return md;
}

int md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) { return dnnl_memory_desc_equal(a, b); }

size_t md_bytes(const dnnl_memory_desc_t *md) { return dnnl_memory_desc_get_size(md); }

void md_describe(const dnnl_memory_desc_t *md, char *buf, size_t len) {
    if (md->format_kind != dnnl_blocked) {
        snprintf(buf, len, "?");
        return;
    }
    /* Dimensions in decreasing outer stride, lower case when blocked inside. */
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int order[DNNL_MAX_NDIMS];
    for (int i = 0; i < md->ndims; i++) order[i] = i;
    for (int i = 0; i < md->ndims; i++)
        for (int j = i + 1; j < md->ndims; j++)
            if (b->strides[order[j]] > b->strides[order[i]]) { int t = order[i]; order[i] = order[j]; order[j] = t; }
    size_t o = 0;
    for (int i = 0; i < md->ndims && o + 2 < len; i++) {
        int d = order[i], blocked = 0;
        for (int k = 0; k < b->inner_nblks; k++) blocked |= b->inner_idxs[k] == d;
        buf[o++] = (char)((blocked ? 'A' : 'a') + d);
    }
    for (int k = 0; k < b->inner_nblks && o + 8 < len; k++)
        o += (size_t)snprintf(buf + o, len - o, "%d%c", (int)b->inner_blks[k], 'a' + (int)b->inner_idxs[k]);
    buf[o < len ? o : len - 1] = 0;
}

dnnl_memory_desc_t pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, 0);
    CHECK(md, "oneDNN: memory-desc query %d failed", (int)what);
    return *md;
}

const char *pd_impl(const_dnnl_primitive_desc_t pd) {
    const char *s = "?";
    DNNL_CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s));
    return s;
}

void exec_add(DnnlExec *e, int arg, dnnl_memory_t mem) {
    CHECK(e->nargs < DNNL_MAX_ARGS, "too many primitive arguments");
    e->args[e->nargs].arg = arg;
    e->args[e->nargs].memory = mem;
    e->nargs++;
}

void exec_run(const DnnlExec *e, dnnl_stream_t stream) {
    if (e->prim) DNNL_CHECK(dnnl_primitive_execute(e->prim, stream, e->nargs, e->args));
}

void exec_free(DnnlExec *e) {
    if (e->prim) DNNL_CHECK(dnnl_primitive_destroy(e->prim));
    memset(e, 0, sizeof *e);
}
