/*
 * node_scan.c — one folder scan per machine, shared over the node's MPI
 * ranks (see node_scan.h).
 */
#include "engine/node_scan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int dataset_scan_node(Dist *d, Dataset *ds, const char *dir, Error *err) {
    memset(ds, 0, sizeof *ds);
    if (d->local_world < 2) return dir[0] ? dataset_scan(ds, dir, err) : 0;
    char first[4096];
    struct stat st;
    snprintf(first, sizeof first, "%s", dir);
    int64_t head[2] = { 0, -1 }; /* the first rank's: shared (its dir is a folder), scan length (-1: failed) */
    head[0] = d->local_rank == 0 && dir[0] && stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    char *bytes = NULL;
    if (head[0] && dataset_scan(ds, dir, err) == 0) head[1] = (int64_t)dataset_to_bytes(ds, &bytes);
    dist_node_bcast(d, first, sizeof first);
    dist_node_bcast(d, head, sizeof head);
    if (head[0] && head[1] >= 0) {
        if (d->local_rank != 0) bytes = xmalloc((size_t)head[1]);
        dist_node_bcast(d, bytes, (size_t)head[1]);
    }
    int rc = 0, same = strcmp(first, dir) == 0;
    if (d->local_rank == 0) rc = head[0] ? (head[1] < 0 ? -1 : 0) : (dir[0] ? dataset_scan(ds, dir, err) : 0);
    else if (head[0] && same) rc = head[1] < 0 ? -1 : dataset_from_bytes(ds, bytes, (size_t)head[1], err);
    else rc = dir[0] ? dataset_scan(ds, dir, err) : 0;
    free(bytes);
    return rc;
}
