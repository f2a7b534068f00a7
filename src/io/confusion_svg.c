/*
 * confusion_svg.c — draws a confusion matrix as SVG (see confusion_svg.h).
 */
#include "io/confusion_svg.h"

#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "io/curves_svg.h"

enum { PLOT = 800, TOP = 80, RIGHT = 30, BOTTOM = 50, LABEL_CHARS = 24, MIN_WIDTH = 720 };

/* text as XML character data, whole (xml_escape_text expands a byte to at most 6). */
static char *escaped(const char *text) {
    size_t size = strlen(text) * 6 + 8;
    char *out = xmalloc(size);
    xml_escape_text(text, out, size);
    return out;
}

/* An axis label: the class name cut to LABEL_CHARS bytes (whole characters,
 * "..." when cut), or its index. */
static void axis_label(char *const *names, int c, char *out, size_t size) {
    if (!names) {
        snprintf(out, size, "%d", c);
        return;
    }
    xml_escape_text(names[c], out, size);
}

static double max_d(double a, double b) { return a > b ? a : b; }

int confusion_write_svg(const char *path, int k, const int64_t *confusion, char *const *names, const char *title,
                        Error *err) {
    /* cells: 40 px at 20 classes or fewer, down to under a pixel at 1000 */
    double cell = (double)PLOT / (double)k;
    if (cell > 40) cell = 40;
    int show_names = cell >= 10, show_counts = cell >= 28;
    int left = show_names ? 10 + 7 * LABEL_CHARS : 60;
    int top = TOP + (show_names ? 7 * LABEL_CHARS : 20);
    double side = cell * k;
    int width = left + (int)side + RIGHT, height = top + (int)side + BOTTOM;
    if (width < MIN_WIDTH) { /* room for the title: the plot centred */
        left += (MIN_WIDTH - width) / 2;
        width = MIN_WIDTH;
    }
    int64_t *row_total = xmalloc(sizeof(int64_t) * (size_t)k);
    int64_t images = 0, correct = 0;
    for (int t = 0; t < k; t++) {
        row_total[t] = 0;
        for (int p = 0; p < k; p++) row_total[t] += confusion[(size_t)t * k + p];
        images += row_total[t];
        correct += confusion[(size_t)t * k + t];
    }
    AtomicFile a;
    if (atomic_open(&a, path, err) != 0) {
        free(row_total);
        return -1;
    }
    char *esc_title = escaped(title);
    atomic_printf(&a, "<?xml version='1.0' encoding='UTF-8'?>\n");
    atomic_printf(&a, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'>\n",
                  width, height);
    atomic_printf(&a, "<rect width='100%%' height='100%%' fill='white'/>\n");
    atomic_printf(&a, "<text x='%d' y='22' font-size='15' text-anchor='middle'>%s</text>\n", width / 2, esc_title);
    atomic_printf(&a,
                  "<text x='%d' y='42' font-size='12' fill='#555' text-anchor='middle'>rows: the true class; columns: "
                  "the predicted one; shade: the share of the row's images</text>\n",
                  width / 2);
    atomic_printf(&a,
                  "<text x='%d' y='58' font-size='12' fill='#555' text-anchor='middle'>blue: right, red: confused; "
                  "%lld images, top-1 %.2f%%%s</text>\n",
                  width / 2, (long long)images, images ? 100.0 * (double)correct / (double)images : 0.0,
                  show_counts ? "" : "; hover a cell for its classes and count");
    atomic_printf(&a, "<rect x='%d' y='%d' width='%.2f' height='%.2f' fill='#fafafa' stroke='#ccc'/>\n", left, top,
                  side, side);
    if (show_names) /* a grid where cells are large enough to tell apart */
        for (int c = 1; c < k; c++) {
            atomic_printf(&a, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%.1f' stroke='#eee'/>\n", left + cell * c, top,
                          left + cell * c, top + side);
            atomic_printf(&a, "<line x1='%d' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#eee'/>\n", left, top + cell * c,
                          left + side, top + cell * c);
        }
    /* the cells: only non-empty ones */
    for (int t = 0; t < k; t++) {
        for (int p = 0; p < k; p++) {
            int64_t n = confusion[(size_t)t * k + p];
            if (!n) continue;
            double share = row_total[t] ? (double)n / (double)row_total[t] : 0.0;
            double alpha = 0.08 + 0.92 * share; /* a single confusion among thousands still shows */
            atomic_printf(&a, "<rect x='%.2f' y='%.2f' width='%.2f' height='%.2f' fill='%s' fill-opacity='%.3f'>",
                          left + cell * p, top + cell * t, max_d(cell, 1.0), max_d(cell, 1.0),
                          t == p ? "#1f4e9e" : "#c62828", alpha);
            char *tn = names ? escaped(names[t]) : xasprintf("%d", t);
            char *pn = names ? escaped(names[p]) : xasprintf("%d", p);
            atomic_printf(&a, "<title>%s (%d) as %s (%d): %lld of %lld (%.1f%%)</title></rect>\n", tn, t, pn, p,
                          (long long)n, (long long)row_total[t], 100.0 * share);
            free(tn);
            free(pn);
            if (show_counts)
                atomic_printf(&a, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle' fill='%s'>%lld</text>\n",
                              left + cell * (p + 0.5), top + cell * (t + 0.5) + 4, share > 0.5 ? "white" : "black",
                              (long long)n);
        }
    }
    /* the axes: every class's name, or a tick every `every` classes */
    int every = show_names ? 1 : (k + 19) / 20;
    char label[8 * LABEL_CHARS];
    for (int c = 0; c < k; c += every) {
        double mid = cell * (c + 0.5);
        if (show_names) {
            axis_label(names, c, label, LABEL_CHARS + 4);
            atomic_printf(&a, "<text x='%d' y='%.1f' font-size='11' text-anchor='end'>%s</text>\n", left - 6,
                          top + mid + 4, label);
            atomic_printf(&a,
                          "<text x='%.1f' y='%d' font-size='11' text-anchor='start' transform='rotate(-60 %.1f "
                          "%d)'>%s</text>\n",
                          left + mid + 4, top - 6, left + mid + 4, top - 6, label);
        } else {
            atomic_printf(&a, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#888'/>\n", left - 4, top + mid,
                          left, top + mid);
            atomic_printf(&a, "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%d</text>\n", left - 6,
                          top + mid + 3, c);
            atomic_printf(&a, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#888'/>\n", left + mid, top - 4,
                          left + mid, top);
            atomic_printf(&a, "<text x='%.1f' y='%d' font-size='10' text-anchor='middle'>%d</text>\n", left + mid,
                          top - 7, c);
        }
    }
    atomic_printf(&a, "<text x='%.1f' y='%d' font-size='12' text-anchor='middle'>predicted class%s</text>\n",
                  left + side / 2, height - 18, show_names ? "" : " (index)");
    atomic_printf(&a,
                  "<text x='14' y='%.1f' font-size='12' text-anchor='middle' transform='rotate(-90 14 %.1f)'>true "
                  "class%s</text>\n",
                  top + side / 2, top + side / 2, show_names ? "" : " (index)");
    atomic_printf(&a, "</svg>\n");
    free(esc_title);
    free(row_total);
    return atomic_commit(&a, err);
}
