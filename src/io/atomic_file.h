/*
 * atomic_file.h — write-then-rename so a crash or a full disk never leaves a
 * half-written file in place of a good one. The temporary file is
 * PATH.tmp.PID; one left by a killed process is removed by
 * atomic_remove_stale (the trainer calls it on its run directory).
 */
#ifndef ALEXNET_ATOMIC_FILE_H
#define ALEXNET_ATOMIC_FILE_H

#include <stdio.h>

#include "common/util.h"

typedef struct {
    FILE *f;
    char *path, *tmp; /* owned */
    int failed;
    int64_t written; /* atomic_write calls */
} AtomicFile;

/* Opens PATH.tmp.PID for writing (created anew: never through a link or
 * into a FIFO). PATH must not be a folder: the message says to name a file. */
int atomic_open(AtomicFile *a, const char *path, Error *err);
/* Buffered write; errors are remembered and reported by atomic_commit. */
void atomic_write(AtomicFile *a, const void *data, size_t n);
/* Formatted atomic_write (no length limit). */
void atomic_printf(AtomicFile *a, const char *fmt, ...) ALX_PRINTF(2, 3);
/* Flushes, fsyncs, renames over path and fsyncs the directory; on any
 * failure removes the temporary file, leaves path untouched and returns -1. */
int atomic_commit(AtomicFile *a, Error *err);
/* Abandons the write, removing the temporary file. */
void atomic_abort(AtomicFile *a);
/* Writes a whole string file atomically. */
int atomic_write_text(const char *path, const char *text, Error *err);
/* Removes the temporary files (NAME.tmp.PID) in dir whose process is gone;
 * returns how many. */
int atomic_remove_stale(const char *dir);

#endif
