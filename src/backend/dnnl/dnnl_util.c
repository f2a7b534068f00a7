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

Md md4t(MdPool *pool, int n, int c, int h, int w, dnnl_data_type_t dt, dnnl_format_tag_t tag) {
    dnnl_dim_t d[4] = { n, c, h, w };
    return md_new(pool, 4, d, dt, tag);
}

Md md4(MdPool *pool, int n, int c, int h, int w, dnnl_format_tag_t tag) {
    return md4t(pool, n, c, h, w, dnnl_f32, tag);
}

Md md1(MdPool *pool, int d0) {
    dnnl_dim_t d[1] = { d0 };
    return md_new(pool, 1, d, dnnl_f32, dnnl_a);
}

Md md2t(MdPool *pool, int d0, int d1, dnnl_data_type_t dt) {
    dnnl_dim_t d[2] = { d0, d1 };
    return md_new(pool, 2, d, dt, dnnl_ab);
}

Md md2(MdPool *pool, int d0, int d1) { return md2t(pool, d0, d1, dnnl_f32); }

void md_describe(Md md, char *buf, size_t len) {
    MdLayout b = md_layout(md);
    if (!b.blocked) {
        snprintf(buf, len, "?");
        return;
    }
    /* Dimensions in decreasing outer stride, upper case when blocked inside. */
    int order[DNNL_MAX_NDIMS];
    for (int i = 0; i < b.ndims; i++) order[i] = i;
    for (int i = 0; i < b.ndims; i++)
        for (int j = i + 1; j < b.ndims; j++)
            if (b.strides[order[j]] > b.strides[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    size_t o = 0;
    for (int i = 0; i < b.ndims && o + 2 < len; i++) {
        int d = order[i], blocked = 0;
        for (int k = 0; k < b.inner_nblks; k++) blocked |= b.inner_idxs[k] == d;
        buf[o++] = (char)((blocked ? 'A' : 'a') + d);
    }
    for (int k = 0; k < b.inner_nblks && o + 8 < len; k++)
        o += (size_t)snprintf(buf + o, len - o, "%d%c", (int)b.inner_blks[k], 'a' + (int)b.inner_idxs[k]);
    buf[o < len ? o : len - 1] = 0;
}

int md_channel_block(Md md) {
    MdLayout b = md_layout(md);
    return b.blocked && b.inner_nblks == 1 && b.inner_idxs[0] == 1 ? (int)b.inner_blks[0] : 0;
}

Md pd_md(MdPool *pool, const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
    Md md = md_query(pool, pd, what);
    CHECK(md, "oneDNN: memory-desc query %d failed", (int)what);
    return md;
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
