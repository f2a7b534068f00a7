/*
 * confusion_svg.h — a confusion matrix as an SVG heatmap (eval
 * --confusion_svg): rows the true class, columns the predicted one, each
 * cell shaded by its share of the row (the class's images), the diagonal in
 * blue and the confusions in red, so the errors stand out at any size.
 *
 * Readable at 10 classes (names on both axes, counts in the cells) and at
 * 1000 (one pixel or so per cell; a tick every few classes; each non-empty
 * cell names its two classes and its count when the mouse is over it). Only
 * non-empty cells are drawn, so the file grows with the images, not K².
 */
#ifndef ALEXNET_CONFUSION_SVG_H
#define ALEXNET_CONFUSION_SVG_H

#include <stdint.h>

#include "common/util.h"

/* confusion[k * k] (row true, column predicted); names[k] or NULL (class
 * indices are shown). Written atomically. */
int confusion_write_svg(const char *path, int k, const int64_t *confusion, char *const *names, const char *title,
                        Error *err);

#endif
