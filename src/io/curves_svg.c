/*
 * curves_svg.c — draws the training curves as SVG (see curves_svg.h).
 */
#include "io/curves_svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"

enum { W = 900, PANEL_H = 280, LEFT = 70, RIGHT = 70, TOP = 40, GAP = 70 };
#define PLOT_W (W - LEFT - RIGHT)

/* A growable string. */
typedef struct { char *s; size_t n, cap; } Buf;

static void put(Buf *b, const char *fmt, ...) ALX_PRINTF(2, 3);
static void put(Buf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k >= 0 && b->s && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        b->cap = b->cap * 2 + (size_t)(k > 0 ? k : 0) + 4096;
        b->s = realloc(b->s, b->cap);
        CHECK(b->s, "out of memory drawing curves");
    }
}

/* A "nice" tick spacing (1, 2 or 5 × 10^k) giving about n ticks over span. */
static double nice_step(double span, int n) {
    double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

typedef struct { double x0, x1, y0, y1; int top; } Axes;

static double px(const Axes *a, double x) { return LEFT + (x - a->x0) / (a->x1 - a->x0) * PLOT_W; }
static double py(const Axes *a, double y) { return a->top + PANEL_H - (y - a->y0) / (a->y1 - a->y0) * PANEL_H; }

static void frame(Buf *b, const Axes *a, const char *xlabel, const char *ylabel, const char *fmt, double yscale) {
    put(b, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n", LEFT, a->top, PLOT_W, PANEL_H);
    double xs = nice_step(a->x1 - a->x0, 8);
    for (double x = ceil(a->x0 / xs) * xs; x <= a->x1 + 1e-9; x += xs)
        put(b, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#eee'/><text x='%.1f' y='%d' font-size='11' text-anchor='middle'>%g</text>\n",
            px(a, x), a->top, px(a, x), a->top + PANEL_H, px(a, x), a->top + PANEL_H + 15, x);
    double ys = nice_step(a->y1 - a->y0, 5);
    for (double y = ceil(a->y0 / ys) * ys; y <= a->y1 + 1e-12; y += ys) {
        put(b, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#eee'/><text x='%d' y='%.1f' font-size='11' text-anchor='end'>",
            LEFT, py(a, y), LEFT + PLOT_W, py(a, y), LEFT - 6, py(a, y) + 4);
        put(b, fmt, y * yscale);
        put(b, "</text>\n");
    }
    put(b, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>%s</text>\n", LEFT + PLOT_W / 2, a->top + PANEL_H + 32, xlabel);
    put(b, "<text x='16' y='%d' font-size='12' text-anchor='middle' transform='rotate(-90 16 %d)'>%s</text>\n",
        a->top + PANEL_H / 2, a->top + PANEL_H / 2, ylabel);
}

static void polyline(Buf *b, const Axes *a, const double *x, const double *y, int n, const char *color, const char *extra) {
    if (n == 0) return;
    put(b, "<polyline fill='none' stroke='%s' stroke-width='1.5' %s points='", color, extra);
    for (int i = 0; i < n; i++) put(b, "%.1f,%.1f ", px(a, x[i]), py(a, y[i]));
    put(b, "'/>\n");
}

static void range(const double *v, int n, double *lo, double *hi) {
    *lo = INFINITY; *hi = -INFINITY;
    for (int i = 0; i < n; i++) { if (v[i] < *lo) *lo = v[i]; if (v[i] > *hi) *hi = v[i]; }
    if (!(*hi > *lo)) { *hi = *lo + 1; *lo -= 1e-9; }
}

int curves_write_svg(const char *path, const MetricsLog *m, const char *title, Error *err) {
    int ns = 0, ne = 0;
    double *sx = xmalloc(sizeof(double) * (size_t)(m->n + 1)), *sl = xmalloc(sizeof(double) * (size_t)(m->n + 1));
    double *slr = xmalloc(sizeof(double) * (size_t)(m->n + 1)), *ex = xmalloc(sizeof(double) * (size_t)(m->n + 1));
    double *e1 = xmalloc(sizeof(double) * (size_t)(m->n + 1)), *e5 = xmalloc(sizeof(double) * (size_t)(m->n + 1));
    for (int i = 0; i < m->n; i++) {
        const MetricRecord *r = &m->rec[i];
        if (!r->is_epoch && isfinite(r->loss)) { sx[ns] = (double)r->step; sl[ns] = r->loss; slr[ns++] = r->lr; }
        if (r->is_epoch && r->top1 >= 0) { ex[ne] = r->epoch + 1; e1[ne] = r->top1; e5[ne++] = r->top5; }
    }
    Buf b = {0};
    int H = TOP + 2 * PANEL_H + GAP + 60;
    put(&b, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'>\n", W, H);
    put(&b, "<rect width='100%%' height='100%%' fill='white'/>\n");
    put(&b, "<text x='%d' y='24' font-size='15' text-anchor='middle'>%s</text>\n", W / 2, title);

    Axes a = {0, 1, 0, 1, TOP};
    if (ns > 0) {
        range(sx, ns, &a.x0, &a.x1);
        range(sl, ns, &a.y0, &a.y1);
        a.y0 = 0;
    }
    frame(&b, &a, "optimizer step", "training loss", "%g", 1.0);
    polyline(&b, &a, sx, sl, ns, "#1f77b4", "");
    if (ns > 0) {
        Axes l = a;
        range(slr, ns, &l.y0, &l.y1);
        l.y0 = 0;
        polyline(&b, &l, sx, slr, ns, "#ff7f0e", "stroke-dasharray='5,3'");
        double ys = nice_step(l.y1 - l.y0, 5);
        for (double y = 0; y <= l.y1 + 1e-15; y += ys)
            put(&b, "<text x='%d' y='%.1f' font-size='11' fill='#ff7f0e'>%.3g</text>\n", LEFT + PLOT_W + 6, py(&l, y) + 4, y);
    }
    put(&b, "<text x='%d' y='%d' font-size='12' fill='#1f77b4'>loss</text><text x='%d' y='%d' font-size='12' fill='#ff7f0e'>learning rate (right axis)</text>\n",
        LEFT + 10, TOP + 16, LEFT + 60, TOP + 16);

    Axes e = {0.5, 1.5, 0, 1, TOP + PANEL_H + GAP};
    if (ne > 0) { e.x0 = 0; e.x1 = ex[ne - 1] + 0.5; }
    frame(&b, &e, "epoch", "validation accuracy", "%g%%", 100.0);
    polyline(&b, &e, ex, e1, ne, "#2ca02c", "");
    polyline(&b, &e, ex, e5, ne, "#9467bd", "");
    for (int i = 0; i < ne; i++)
        put(&b, "<circle cx='%.1f' cy='%.1f' r='3' fill='#2ca02c'/><circle cx='%.1f' cy='%.1f' r='3' fill='#9467bd'/>\n",
            px(&e, ex[i]), py(&e, e1[i]), px(&e, ex[i]), py(&e, e5[i]));
    if (ne > 0)
        put(&b, "<text x='%d' y='%d' font-size='12' fill='#2ca02c'>top-1 %.2f%%</text><text x='%d' y='%d' font-size='12' fill='#9467bd'>top-5 %.2f%%</text>\n",
            LEFT + 10, e.top + 16, 100 * e1[ne - 1], LEFT + 120, e.top + 16, 100 * e5[ne - 1]);
    else
        put(&b, "<text x='%d' y='%d' font-size='12' fill='#888' text-anchor='middle'>no validation yet (--val_dir)</text>\n", LEFT + PLOT_W / 2, e.top + PANEL_H / 2);
    put(&b, "</svg>\n");
    int rc = atomic_write_text(path, b.s, err);
    free(b.s); free(sx); free(sl); free(slr); free(ex); free(e1); free(e5);
    return rc;
}
