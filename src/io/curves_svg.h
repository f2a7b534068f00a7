/*
 * curves_svg.h — RUN_DIR/curves.svg: training loss and learning rate per
 * step (top panel, lr on the right axis) and validation top-1/top-5 per
 * epoch (bottom panel). Plain SVG, viewable in any browser.
 */
#ifndef ALEXNET_CURVES_SVG_H
#define ALEXNET_CURVES_SVG_H

#include "common/util.h"
#include "io/metrics.h"

int curves_write_svg(const char *path, const MetricsLog *m, const char *title, Error *err);

#endif
