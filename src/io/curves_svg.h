/*
 * curves_svg.h — RUN_DIR/curves.svg: training loss per step with the
 * validation loss per epoch, and the learning rate as the staircase it is
 * (top panel, lr on the right axis); validation top-1/top-5 and training
 * top-1 per epoch (bottom panel). Plain SVG, viewable in any browser; the
 * title is escaped, so any folder name gives well-formed XML.
 */
#ifndef ALEXNET_CURVES_SVG_H
#define ALEXNET_CURVES_SVG_H

#include <stddef.h>

#include "common/util.h"
#include "io/metrics.h"

int curves_write_svg(const char *path, const MetricsLog *m, const char *title, Error *err);

/* Writes text into out (size bytes, NUL-terminated) as XML character data:
 * & < > " ' escaped, control characters and invalid UTF-8 replaced by '?',
 * cut only between whole characters (with "..." when cut). */
void xml_escape_text(const char *text, char *out, size_t size);

#endif
