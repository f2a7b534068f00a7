/*
 * tb_events.h — TensorBoard event files (train --tensorboard), so that
 * `tensorboard --logdir runs/` shows every run's curves side by side.
 *
 * The format is TensorFlow's TFRecord of Event protos: per record its length
 * (8 bytes, little-endian), the length's masked CRC-32C (4), the serialized
 * Event, the Event's masked CRC-32C (4). The Events are encoded by protobuf-c
 * from io/tensorboard/tensorboard.proto. A file starts with the
 * "brain.Event:2" version event; each open makes a new file
 * (events.out.tfevents.TIME.HOST.PID.alexnet), as TensorFlow's writers do.
 *
 * A resumed run replays the steps after its last save: its file starts with
 * a SessionLog START at the first replayed step, which makes TensorBoard drop
 * what the earlier file holds from that step on, so each step shows once.
 *
 * Builds without protobuf-c answer tb_open with how to get it.
 */
#ifndef ALEXNET_TB_EVENTS_H
#define ALEXNET_TB_EVENTS_H

#include <stdint.h>

#include "common/util.h"

typedef struct TbWriter TbWriter;

/* A new event file in dir (which must exist). first_step > 0: the run
 * continues (or replays) from that step on. NULL with err on failure. */
TbWriter *tb_open(const char *dir, int64_t first_step, Error *err);
/* One event holding n scalars at step (non-finite values are left out). A
 * write that fails is reported once (a warning) and the log stops; training
 * goes on. */
void tb_scalars(TbWriter *w, int64_t step, const char *const *tags, const double *values, int n);
void tb_close(TbWriter *w);
/* The file's path (for messages). */
const char *tb_path(const TbWriter *w);

/* CRC-32C (Castagnoli) of n bytes, and TFRecord's masking of it. */
uint32_t crc32c(const void *data, size_t n);
uint32_t crc32c_masked(const void *data, size_t n);

#endif
