/*
 * curves_svg.c — draws the training curves as SVG (see curves_svg.h).
 */
#include "io/curves_svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"

enum { W = 900, PANEL_H = 280, LEFT = 70, RIGHT = 70, TOP = 60, GAP = 90 };
#define PLOT_W (W - LEFT - RIGHT)

/* A growable string. */
typedef struct {
    char *s;
    size_t n, cap;
} Buf;

static void put(Buf *b, const char *fmt, ...) ALX_PRINTF(2, 3);
static void put(Buf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k >= 0 && b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(k > 0 ? k : 0) + 4096;
        b->s = realloc(b->s, b->cap);
        CHECK(b->s, "out of memory drawing curves");
    }
}

/* Length of the valid UTF-8 character at s (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s) {
    if (s[0] < 0x80) return 1;
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) return 0; /* overlong, surrogate */
    if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))) return 0;
    return n;
}

void xml_escape_text(const char *text, char *out, size_t size) {
    if (size == 0) return;
    size_t n = 0;
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        char rep[8];
        size_t k = utf8_len(s), adv = k ? k : 1;
        const char *piece = rep;
        size_t plen;
        if (k == 1 && (*s < 0x20 || *s == 0x7f)) {
            rep[0] = '?';
            plen = 1;
        } else if (k == 0) {
            rep[0] = '?';
            plen = 1;
        } else if (*s == '&') {
            piece = "&amp;";
            plen = 5;
        } else if (*s == '<') {
            piece = "&lt;";
            plen = 4;
        } else if (*s == '>') {
            piece = "&gt;";
            plen = 4;
        } else if (*s == '"') {
            piece = "&quot;";
            plen = 6;
        } else if (*s == '\'') {
            piece = "&apos;";
            plen = 6;
        } else {
            piece = (const char *)s;
            plen = k;
        }
        if (n + plen + 4 > size) { /* room for "..." and the NUL */
            if (n + 4 <= size) {
                memcpy(out + n, "...", 3);
                n += 3;
            }
            break;
        }
        memcpy(out + n, piece, plen);
        n += plen;
        s += adv;
    }
    out[n] = '\0';
}

/* A "nice" tick spacing (1, 2 or 5 × 10^k) giving about n ticks over span. */
static double nice_step(double span, int n) {
    double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

typedef struct {
    double x0, x1, y0, y1;
    int top;
} Axes;

static double px(const Axes *a, double x) { return LEFT + (x - a->x0) / (a->x1 - a->x0) * PLOT_W; }
static double py(const Axes *a, double y) { return a->top + PANEL_H - (y - a->y0) / (a->y1 - a->y0) * PANEL_H; }

/* integer_x: ticks only at whole numbers (epochs). */
static void frame(Buf *b, const Axes *a, const char *xlabel, const char *ylabel, const char *fmt, double yscale,
                  int integer_x) {
    put(b, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n", LEFT, a->top, PLOT_W, PANEL_H);
    double xs = nice_step(a->x1 - a->x0, 8);
    if (integer_x && xs < 1) xs = 1;
    for (double x = ceil(a->x0 / xs) * xs; x <= a->x1 + 1e-9; x += xs)
        put(b,
            "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#eee'/><text x='%.1f' y='%d' font-size='11' "
            "text-anchor='middle'>%g</text>\n",
            px(a, x), a->top, px(a, x), a->top + PANEL_H, px(a, x), a->top + PANEL_H + 15, x);
    double ys = nice_step(a->y1 - a->y0, 5);
    for (double y = ceil(a->y0 / ys) * ys; y <= a->y1 + 1e-12; y += ys) {
        put(b,
            "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#eee'/><text x='%d' y='%.1f' font-size='11' "
            "text-anchor='end'>",
            LEFT, py(a, y), LEFT + PLOT_W, py(a, y), LEFT - 6, py(a, y) + 4);
        put(b, fmt, y * yscale);
        put(b, "</text>\n");
    }
    put(b, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>%s</text>\n", LEFT + PLOT_W / 2,
        a->top + PANEL_H + 32, xlabel);
    put(b, "<text x='16' y='%d' font-size='12' text-anchor='middle' transform='rotate(-90 16 %d)'>%s</text>\n",
        a->top + PANEL_H / 2, a->top + PANEL_H / 2, ylabel);
}

/* staircase: each value holds from the previous point to its own (the lr of
 * the steps a record covers), drawn as horizontal then vertical segments. */
static void polyline(Buf *b, const Axes *a, const double *x, const double *y, int n, const char *color,
                     const char *extra, int staircase) {
    if (n == 0) return;
    put(b, "<polyline fill='none' stroke='%s' stroke-width='1.5' %s points='", color, extra);
    for (int i = 0; i < n; i++) {
        if (staircase && i > 0) put(b, "%.1f,%.1f ", px(a, x[i - 1]), py(a, y[i]));
        put(b, "%.1f,%.1f ", px(a, x[i]), py(a, y[i]));
    }
    put(b, "'/>\n");
}

static void markers(Buf *b, const Axes *a, const double *x, const double *y, int n, const char *color) {
    for (int i = 0; i < n; i++)
        put(b, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'/>\n", px(a, x[i]), py(a, y[i]), color);
}

/* A row of legend items (text, colour) above a panel, left to right; an item
 * that would run past the plot's right edge starts a row above instead. */
typedef struct {
    const char *text, *color;
} LegendItem;

static void legend(Buf *b, int y, const LegendItem *items, int n) {
    int x = LEFT;
    for (int i = 0; i < n; i++) {
        int w = (int)(6.6 * (double)strlen(items[i].text)) + 18; /* ~6.6 px a character at 12 px */
        if (x > LEFT && x + w > LEFT + PLOT_W + RIGHT - 10) {
            x = LEFT;
            y -= 15;
        }
        put(b, "<text x='%d' y='%d' font-size='12' fill='%s'>%s</text>", x, y, items[i].color, items[i].text);
        x += w;
    }
    put(b, "\n");
}

/* hi raised so a curve at the maximum stays off the frame's top edge. */
static void headroom(double lo, double *hi) { *hi += 0.08 * (*hi - lo); }

static void range(const double *v, int n, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (v[i] < *lo) *lo = v[i];
        if (v[i] > *hi) *hi = v[i];
    }
    if (!(*hi > *lo)) {
        *hi = *lo + 1;
        *lo -= 1e-9;
    }
}

/* The series the two panels draw, from the metrics records. */
typedef struct {
    int ns, nv, ne, nt, nm;
    double *step, *loss, *lr;    /* step records [ns] */
    double *vstep, *vloss;       /* epoch records with a validation loss [nv] */
    double *epoch, *top1, *top5; /* epoch records with validation accuracy [ne] */
    double *tepoch, *ttop1;      /* epoch records with training accuracy [nt] */
    double *mepoch, *mtop1;      /* epoch records with the EMA's accuracy [nm] */
} Series;

static void series_collect(Series *s, const MetricsLog *m) {
    memset(s, 0, sizeof *s);
    double **arrays[] = { &s->step, &s->loss, &s->lr,     &s->vstep, &s->vloss,  &s->epoch,
                          &s->top1, &s->top5, &s->tepoch, &s->ttop1, &s->mepoch, &s->mtop1 };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        *arrays[i] = xmalloc(sizeof(double) * (size_t)(m->n + 1));
    for (int i = 0; i < m->n; i++) {
        const MetricRecord *r = &m->rec[i];
        if (!r->is_epoch && isfinite(r->loss) && isfinite(r->lr)) {
            s->step[s->ns] = (double)r->step;
            s->loss[s->ns] = r->loss;
            s->lr[s->ns++] = r->lr;
        }
        if (!r->is_epoch) continue;
        if (r->top1 >= 0 && isfinite(r->val_loss)) {
            s->vstep[s->nv] = (double)r->step;
            s->vloss[s->nv++] = r->val_loss;
        }
        if (r->top1 >= 0) {
            s->epoch[s->ne] = r->epoch;
            s->top1[s->ne] = r->top1;
            s->top5[s->ne++] = r->top5;
        }
        if (r->train_top1 >= 0) {
            s->tepoch[s->nt] = r->epoch;
            s->ttop1[s->nt++] = r->train_top1;
        }
        if (r->ema_top1 >= 0) {
            s->mepoch[s->nm] = r->epoch;
            s->mtop1[s->nm++] = r->ema_top1;
        }
    }
}

static void series_free(Series *s) {
    free(s->step);
    free(s->loss);
    free(s->lr);
    free(s->vstep);
    free(s->vloss);
    free(s->epoch);
    free(s->top1);
    free(s->top5);
    free(s->tepoch);
    free(s->ttop1);
    free(s->mepoch);
    free(s->mtop1);
}

/* The schedule sampled at a point per 2 px from step 0 to the last step
 * (its warmup ramp and any step exactly), or the logged values as a
 * staircase. */
static void lr_curve(Buf *b, const Axes *a, double last, const Series *s, const LrCurve *lr) {
    Axes l = *a;
    int samples = PLOT_W / 2;
    double *x = NULL, *y = NULL;
    int n = s->ns;
    if (lr) {
        x = xmalloc(sizeof(double) * (size_t)(samples + 1));
        y = xmalloc(sizeof(double) * (size_t)(samples + 1));
        for (int i = 0; i <= samples; i++) {
            x[i] = floor(last * i / samples);
            y[i] = lr->at(lr->ctx, (int64_t)x[i]);
        }
        n = samples + 1;
    }
    const double *xs = lr ? x : s->step, *ys = lr ? y : s->lr;
    range(ys, n, &l.y0, &l.y1);
    l.y0 = 0;
    headroom(l.y0, &l.y1);
    polyline(b, &l, xs, ys, n, "#ff7f0e", "stroke-dasharray='5,3'", !lr);
    double step = nice_step(l.y1 - l.y0, 5);
    for (double v = 0; v <= l.y1 + 1e-15; v += step)
        put(b, "<text x='%d' y='%.1f' font-size='11' fill='#ff7f0e'>%.3g</text>\n", LEFT + PLOT_W + 6, py(&l, v) + 4,
            v);
    free(x);
    free(y);
}

static void loss_panel(Buf *b, const Series *s, const LrCurve *lr) {
    Axes a = { 0, 1, 0, 1, TOP };
    double last = 0;
    if (s->ns > 0) {
        double lo, hi;
        range(s->step, s->ns, &lo, &last);
        if (s->nv > 0 && s->vstep[s->nv - 1] > last) last = s->vstep[s->nv - 1];
        a.x1 = last > 0 ? last * 1.02 : 1; /* the last points (a validation dot) stay inside */
        range(s->loss, s->ns, &lo, &a.y1);
        if (s->nv > 0) {
            range(s->vloss, s->nv, &lo, &hi);
            if (hi > a.y1) a.y1 = hi;
        }
        a.y0 = 0;
        headroom(a.y0, &a.y1);
    }
    frame(b, &a, "optimizer step", "loss", "%g", 1.0, 1);
    polyline(b, &a, s->step, s->loss, s->ns, "#1f77b4", "", 0);
    if (s->ns == 1) markers(b, &a, s->step, s->loss, 1, "#1f77b4");
    markers(b, &a, s->vstep, s->vloss, s->nv, "#d62728");
    if (s->ns > 0) lr_curve(b, &a, last, s, lr);
    /* the legend sits above the panel, where no curve can run through it */
    const LegendItem items[] = { { "training loss", "#1f77b4" },
                                 { "&#9679; validation loss", "#d62728" },
                                 { "- - learning rate (right axis)", "#ff7f0e" } };
    legend(b, TOP - 8, items, 3);
}

static void accuracy_panel(Buf *b, const Series *s) {
    Axes e = { 0.5, 1.5, 0, 1.05, TOP + PANEL_H + GAP }; /* 100% stays off the top edge */
    double last = 0;
    if (s->ne > 0) last = s->epoch[s->ne - 1];
    if (s->nt > 0 && s->tepoch[s->nt - 1] > last) last = s->tepoch[s->nt - 1];
    if (last > 0) {
        e.x0 = 0;
        e.x1 = last + 0.5;
    }
    frame(b, &e, "epoch", "accuracy", "%g%%", 100.0, 1);
    polyline(b, &e, s->epoch, s->top1, s->ne, "#2ca02c", "", 0);
    polyline(b, &e, s->epoch, s->top5, s->ne, "#9467bd", "", 0);
    polyline(b, &e, s->tepoch, s->ttop1, s->nt, "#2ca02c", "stroke-dasharray='2,3'", 0);
    markers(b, &e, s->epoch, s->top1, s->ne, "#2ca02c");
    markers(b, &e, s->epoch, s->top5, s->ne, "#9467bd");
    markers(b, &e, s->tepoch, s->ttop1, s->nt, "#98df8a");
    polyline(b, &e, s->mepoch, s->mtop1, s->nm, "#ff7f0e", "stroke-dasharray='6,3'", 0);
    markers(b, &e, s->mepoch, s->mtop1, s->nm, "#ff7f0e");
    char text[4][96];
    LegendItem items[4];
    int n = 0;
    if (s->ne > 0) {
        snprintf(text[n], sizeof text[n], "validation top-1 %.2f%%", 100 * s->top1[s->ne - 1]);
        items[n] = (LegendItem){ text[n], "#2ca02c" }, n++;
        snprintf(text[n], sizeof text[n], "validation top-5 %.2f%%", 100 * s->top5[s->ne - 1]);
        items[n] = (LegendItem){ text[n], "#9467bd" }, n++;
    }
    if (s->nt > 0) {
        snprintf(text[n], sizeof text[n], "&#183;&#183;&#183; training top-1 %.2f%%", 100 * s->ttop1[s->nt - 1]);
        items[n] = (LegendItem){ text[n], "#2ca02c" }, n++;
    }
    if (s->nm > 0) {
        snprintf(text[n], sizeof text[n], "- - EMA top-1 %.2f%%", 100 * s->mtop1[s->nm - 1]);
        items[n] = (LegendItem){ text[n], "#ff7f0e" }, n++;
    }
    legend(b, e.top - 8, items, n);
    if (s->ne == 0)
        put(b,
            "<text x='%d' y='%d' font-size='12' fill='#888' text-anchor='middle'>no validation yet "
            "(--val_dir)</text>\n",
            LEFT + PLOT_W / 2, e.top + PANEL_H / 2);
}

int curves_write_svg(const char *path, const MetricsLog *m, const LrCurve *lr, const char *title, Error *err) {
    Series s;
    series_collect(&s, m);
    Buf b = { 0 };
    char esc[600];
    xml_escape_text(title, esc, sizeof esc);
    int H = TOP + 2 * PANEL_H + GAP + 60;
    put(&b, "<?xml version='1.0' encoding='UTF-8'?>\n");
    put(&b, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'>\n", W, H);
    put(&b, "<rect width='100%%' height='100%%' fill='white'/>\n");
    put(&b, "<text x='%d' y='22' font-size='15' text-anchor='middle'>%s</text>\n", W / 2, esc);
    loss_panel(&b, &s, lr);
    accuracy_panel(&b, &s);
    put(&b, "</svg>\n");
    int rc = atomic_write_text(path, b.s, err);
    free(b.s);
    series_free(&s);
    return rc;
}
