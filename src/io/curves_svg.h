/*
 * curves_svg.h — RUN_DIR/curves.svg: training loss per step with the
 * validation loss per epoch, and the learning rate (top panel, lr on the
 * right axis: the schedule itself, warmup included, when the caller gives
 * it, else the logged values as the staircase they are); validation
 * top-1/top-5, training top-1 and the EMA's top-1 per epoch (bottom panel).
 * Every curve keeps a margin inside its frame and every legend one row per
 * panel's width. Plain SVG, viewable in any browser; the title is escaped,
 * so any folder name gives well-formed XML.
 */
#ifndef ALEXNET_CURVES_SVG_H
#define ALEXNET_CURVES_SVG_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "io/metrics.h"

/* The learning rate at an optimizer step (the run's schedule). */
typedef struct {
    double (*at)(const void *ctx, int64_t step);
    const void *ctx;
} LrCurve;

/* lr: NULL to draw the logged learning rates. */
int curves_write_svg(const char *path, const MetricsLog *m, const LrCurve *lr, const char *title, Error *err);

/* Writes text into out (size bytes, NUL-terminated) as XML character data:
 * & < > " ' escaped, control characters and invalid UTF-8 replaced by '?',
 * cut only between whole characters (with "..." when cut). */
void xml_escape_text(const char *text, char *out, size_t size);

#endif
