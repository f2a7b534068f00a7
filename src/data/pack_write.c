/*
 * pack_write.c — `prepare pack`'s work (see pack_write.h). Images are
 * converted in chunks by an OpenMP team (one decoder per thread) and written
 * in scan order by one thread, so the pack does not depend on the thread
 * count. The header, class names, file names and index are written last, over
 * space reserved at the start; until then the file has no magic.
 */
#include "data/pack_write.h"

#include <limits.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "data/dataset.h"
#include "data/image.h"
#include "data/jpeg_encode.h"
#include "data/pack.h"
#include "data/resize.h"
#include "io/atomic_file.h"

#define CHUNK_PER_THREAD 16

#include <jpeglib.h>
#define TEXT_(x) #x
#define TEXT(x)  TEXT_(x)
#ifdef LIBJPEG_TURBO_VERSION
#define LIBJPEG_TURBO_VERSION_TEXT TEXT(LIBJPEG_TURBO_VERSION)
#else
#define LIBJPEG_TURBO_VERSION_TEXT "?"
#endif

typedef struct {
    ImageDecoder *dec;
    Pixels pix;
    ResampleAxis ax, ay;
    uint8_t *tmp, *planes, *rgb;
    size_t tmp_cap, planes_cap, rgb_cap;
} Converter;

typedef struct {
    uint8_t *bytes; /* what is stored (malloc'd) */
    size_t size;
    int width, height;
    int ok;
    Error err;         /* !ok: why */
    char warning[300]; /* ok but the decoder warned */
} Item;

void pack_target_size(const PackConfig *c, int w, int h, int *tw, int *th) {
    int lng = w > h ? w : h, shrt = w > h ? h : w;
    int nl = lng, ns = shrt;
    if (c->short_side > 0 && shrt > c->short_side) {
        ns = c->short_side;
        nl = (int)((int64_t)c->short_side * lng / shrt); /* torchvision: int(size * long / short) */
    }
    if (c->max_side > 0 && nl > c->max_side) {
        ns = (int)((int64_t)c->max_side * ns / nl);
        nl = c->max_side;
    }
    if (ns < 1) ns = 1;
    *tw = w > h ? nl : ns;
    *th = w > h ? ns : nl;
}

static uint8_t *grow(uint8_t **buf, size_t *cap, size_t n) {
    if (n > *cap) {
        free(*buf);
        *buf = malloc(n);
        *cap = *buf ? n : 0;
    }
    return *buf;
}

/* Stores the file as it is (an encoded pack's image that needs no downscaling). */
static int keep_original(const char *path, Item *it) {
    FILE *f = fopen_regular(path, NULL);
    if (!f) return -1;
    uint8_t *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(b, cap);
            if (!nb) break;
            b = nb;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f) || n == 0;
    fclose(f);
    if (bad) {
        free(b);
        return -1;
    }
    free(it->bytes);
    it->bytes = b;
    it->size = n;
    return 0;
}

/* Decodes one file in full, downscales it and encodes it into it. */
static void convert(Converter *cv, const PackConfig *c, const char *path, Item *it) {
    memset(it, 0, sizeof *it);
    Error *err = &it->err;
    int w, h;
    if (image_open(cv->dec, path, c->max_image_pixels, &w, &h, err) != 0) return;
    if (image_decode(cv->dec, 8, 0, 0, w, h, &cv->pix, err) != 0) return;
    if (image_warning(cv->dec)) snprintf(it->warning, sizeof it->warning, "%s: %s", path, image_warning(cv->dec));
    int tw, th;
    pack_target_size(c, w, h, &tw, &th);
    size_t npx = (size_t)tw * (size_t)th;
    uint8_t *rgb = grow(&cv->rgb, &cv->rgb_cap, npx * 3);
    if (!rgb) {
        error_set(err, "%s: not enough memory for %dx%d pixels", path, tw, th);
        return;
    }
    const Pixels *p = &cv->pix;
    if (tw == w && th == h) {
        if (!c->raw) { /* stored as it is */
            it->width = w;
            it->height = h;
            if (keep_original(path, it) != 0) {
                error_set(err, "%s: cannot read it again", path);
                return;
            }
            it->ok = 1;
            return;
        }
        for (int y = 0; y < h; y++) {
            const uint8_t *s = p->px + (size_t)(y - p->y0) * p->stride - (size_t)p->x0 * 4;
            uint8_t *o = rgb + (size_t)y * (size_t)w * 3;
            for (int x = 0; x < w; x++, s += 4, o += 3) memcpy(o, s, 3);
        }
    } else {
        if (resample_axis_init(&cv->ax, 0, w, 0, w, tw, 0, tw, 0) != 0 ||
            resample_axis_init(&cv->ay, 0, h, 0, h, th, 0, th, 0) != 0) {
            error_set(err, "%s: cannot resample %dx%d to %dx%d", path, w, h, tw, th);
            return;
        }
        uint8_t *tmp = grow(&cv->tmp, &cv->tmp_cap, resample_tmp_bytes(&cv->ax, &cv->ay));
        uint8_t *pl = grow(&cv->planes, &cv->planes_cap, npx * 3);
        if (!tmp || !pl) {
            error_set(err, "%s: not enough memory to resample it", path);
            return;
        }
        resample_rgbx(pl, p->px, p->stride, p->x0, p->y0, &cv->ax, &cv->ay, tmp);
        for (size_t i = 0; i < npx; i++) {
            rgb[3 * i] = pl[i];
            rgb[3 * i + 1] = pl[npx + i];
            rgb[3 * i + 2] = pl[2 * npx + i];
        }
    }
    it->width = tw;
    it->height = th;
    if (c->raw) {
        it->bytes = malloc(npx * 3);
        if (!it->bytes) {
            error_set(err, "%s: not enough memory", path);
            return;
        }
        memcpy(it->bytes, rgb, npx * 3);
        it->size = npx * 3;
        it->ok = 1;
        return;
    }
    int gray = 1;
    for (size_t i = 0; i < npx && gray; i++) gray = rgb[3 * i] == rgb[3 * i + 1] && rgb[3 * i] == rgb[3 * i + 2];
    if (gray)
        for (size_t i = 0; i < npx; i++) rgb[i] = rgb[3 * i];
    if (jpeg_encode_mem(rgb, tw, th, gray ? 1 : 3, c->quality, &it->bytes, &it->size, err) != 0) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        error_set(err, "%s: %s", path, m);
        return;
    }
    it->ok = 1;
}

/* Ctrl-C or a kill while packing: the temporary file goes too (it never
 * looks like a pack, but it can be gigabytes). */
static char interrupted_tmp[4096];

static void on_signal(int sig) {
    if (interrupted_tmp[0]) unlink(interrupted_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void cleanup_on_signals(const char *tmp) {
    snprintf(interrupted_tmp, sizeof interrupted_tmp, "%s", tmp ? tmp : "");
    int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], tmp ? on_signal : SIG_DFL);
}

static void progress(int64_t done, int64_t total, double t0, int final) {
    double dt = now_seconds() - t0, rate = dt > 0 ? (double)done / dt : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\rprepare pack: %lld/%lld images (%.0f%%), %.0f img/s, ETA %dm%02ds   ", (long long)done,
            (long long)total, 100.0 * (double)done / (double)total, rate, (int)(eta / 60), (int)eta % 60);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

static void put_header(uint8_t *hdr, const PackConfig *c, int nclasses, int64_t n, int64_t skipped, uint64_t clen,
                       uint64_t nlen, uint64_t doff, uint64_t fbytes, uint32_t meta_crc, const char *info) {
    memset(hdr, 0, PACK_HEADER_BYTES);
    memcpy(hdr, PACK_MAGIC, 8);
    pack_put32(hdr + PH_VERSION, PACK_VERSION);
    pack_put32(hdr + PH_HEADER_BYTES, PACK_HEADER_BYTES);
    pack_put32(hdr + PH_MODE, c->raw ? PACK_RAW : PACK_ENCODED);
    pack_put32(hdr + PH_QUALITY, c->raw ? 0 : (uint32_t)c->quality);
    pack_put32(hdr + PH_MAX_SIDE, (uint32_t)(c->max_side > 0 ? c->max_side : 0));
    pack_put32(hdr + PH_SHORT_SIDE, (uint32_t)(c->short_side > 0 ? c->short_side : 0));
    pack_put32(hdr + PH_CLASSES, (uint32_t)nclasses);
    pack_put64(hdr + PH_RECORDS, (uint64_t)n);
    pack_put64(hdr + PH_SKIPPED, (uint64_t)skipped);
    pack_put64(hdr + PH_CLASSES_OFF, PACK_HEADER_BYTES);
    pack_put64(hdr + PH_CLASSES_LEN, clen);
    pack_put64(hdr + PH_NAMES_OFF, PACK_HEADER_BYTES + clen);
    pack_put64(hdr + PH_NAMES_LEN, nlen);
    pack_put64(hdr + PH_INDEX_OFF, PACK_HEADER_BYTES + clen + nlen);
    pack_put64(hdr + PH_DATA_OFF, doff);
    pack_put64(hdr + PH_FILE_BYTES, fbytes);
    pack_put32(hdr + PH_META_CRC, meta_crc);
    size_t il = strlen(info);
    if (il > PACK_INFO_MAX) il = PACK_INFO_MAX;
    pack_put32(hdr + PH_INFO_LEN, (uint32_t)il);
    memcpy(hdr + PH_INFO, info, il);
    pack_put32(hdr + PH_CRC, (uint32_t)crc32_z(0, hdr, PH_CRC));
}

/* JSON text for the header: where the pack came from and how it was made. */
static void make_info(char *buf, size_t cap, const PackConfig *c, const char *root) {
    char src[2048];
    size_t j = 0;
    for (const char *s = root; *s && j + 3 < sizeof src; s++) { /* escaped for JSON */
        if (*s == '"' || *s == '\\') src[j++] = '\\';
        src[j++] = (unsigned char)*s < 32 ? '?' : *s;
    }
    src[j] = 0;
    snprintf(buf, cap,
             "{\"source\": \"%s\", \"mode\": \"%s\", \"quality\": %d, \"max_side\": %d, \"short_side\": %d, "
             "\"resample\": \"Pillow bilinear (antialiased), never upscaled\", \"made_by\": \"%s\", "
             "\"libjpeg_turbo\": \"%s\"}",
             src, c->raw ? "raw" : "jpeg", c->raw ? 0 : c->quality, c->max_side, c->short_side,
             c->made_by ? c->made_by : "alexnet", LIBJPEG_TURBO_VERSION_TEXT);
}

/* What a pack being written holds besides its records' bytes. */
typedef struct {
    AtomicFile a;
    const Dataset *ds;
    size_t root;    /* strlen(ds->root): names are stored relative to it */
    uint8_t *index; /* [kept][PACK_RECORD_BYTES] */
    char *names;    /* kept relative paths, NUL-terminated, back to back */
    uint64_t nlen;  /* bytes used in names */
    uint64_t doff;  /* where the data section starts */
    uint64_t pos;   /* where the next record goes */
    int64_t kept, skipped;
} PackOut;

/* Writes zeros up to the data section: the header, names and index are
 * written over them once known. */
static void reserve_head(AtomicFile *a, uint64_t doff) {
    uint8_t *zeros = xcalloc(1, 1 << 16);
    for (uint64_t left = doff; left > 0;) {
        size_t k = left > (1 << 16) ? (1 << 16) : (size_t)left;
        atomic_write(a, zeros, k);
        left -= k;
    }
    free(zeros);
}

static Converter *converters_create(int nt) {
    Converter *cvs = xcalloc((size_t)nt, sizeof *cvs);
    for (int t = 0; t < nt; t++) cvs[t].dec = image_decoder_create();
    return cvs;
}

static void converters_free(Converter *cvs, int nt) {
    for (int t = 0; t < nt; t++) {
        image_decoder_destroy(cvs[t].dec);
        pixels_free(&cvs[t].pix);
        resample_axis_free(&cvs[t].ax);
        resample_axis_free(&cvs[t].ay);
        free(cvs[t].tmp);
        free(cvs[t].planes);
        free(cvs[t].rgb);
    }
    free(cvs);
}

/* Appends one converted image (record, index entry, name), or counts it as
 * skipped with a warning; frees its bytes either way. */
static void append_item(PackOut *o, const PackConfig *c, int64_t idx, Item *it, int tty) {
    if (!it->ok) {
        o->skipped++;
        if (!c->quiet) {
            if (tty) fputc('\n', stderr);
            warnf("bad image %s (left out of the pack)", it->err.msg);
        }
        free(it->bytes);
        return;
    }
    if (it->warning[0] && !c->quiet) {
        if (tty) fputc('\n', stderr);
        warnf("%s (packed anyway)", it->warning);
    }
    uint8_t *e = o->index + (size_t)o->kept * PACK_RECORD_BYTES;
    pack_put64(e, o->pos);
    pack_put32(e + 8, (uint32_t)it->size);
    pack_put32(e + 12, (uint32_t)o->ds->labels[idx]);
    pack_put32(e + 16, (uint32_t)it->width);
    pack_put32(e + 20, (uint32_t)it->height);
    pack_put32(e + 24, (uint32_t)crc32_z(0, it->bytes, it->size));
    atomic_write(&o->a, it->bytes, it->size);
    o->pos += it->size;
    const char *rel = o->ds->paths[idx] + o->root + 1;
    size_t rl = strlen(rel) + 1;
    memcpy(o->names + o->nlen, rel, rl);
    o->nlen += rl;
    o->kept++;
    free(it->bytes);
}

/* Converts every image of the dataset on c->workers threads, a chunk at a
 * time, and appends them in dataset order. */
static void convert_all(PackOut *o, const PackConfig *c, double t0) {
    const Dataset *ds = o->ds;
    int nt = c->workers > 0 ? c->workers : 1;
    Converter *cvs = converters_create(nt);
    int64_t chunk = (int64_t)nt * CHUNK_PER_THREAD;
    Item *items = xcalloc((size_t)chunk, sizeof *items);
    int tty = !c->quiet && isatty(STDERR_FILENO);
    double last = 0;
    for (int64_t base = 0; base < ds->n; base += chunk) {
        int64_t m = ds->n - base < chunk ? ds->n - base : chunk;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t i = 0; i < m; i++) convert(&cvs[omp_get_thread_num()], c, ds->paths[base + i], &items[i]);
        for (int64_t i = 0; i < m; i++) append_item(o, c, base + i, &items[i], tty);
        if (tty && (now_seconds() - last > 0.5 || base + m == ds->n)) {
            progress(base + m, ds->n, t0, base + m == ds->n);
            last = now_seconds();
        }
    }
    converters_free(cvs, nt);
    free(items);
}

/* Writes the header, class names, file names and index over the reserved
 * head, and commits the file: 0, or -2 with err. */
static int write_head(PackOut *o, const PackConfig *c, uint64_t clen, Error *err) {
    const Dataset *ds = o->ds;
    uint8_t *cls = xmalloc(clen);
    uint64_t cl = 0;
    for (int k = 0; k < ds->n_classes; k++) {
        size_t l = strlen(ds->classes[k]) + 1;
        memcpy(cls + cl, ds->classes[k], l);
        cl += l;
    }
    uint32_t crc = (uint32_t)crc32_z(0, cls, clen);
    crc = (uint32_t)crc32_z(crc, (const uint8_t *)o->names, o->nlen);
    crc = (uint32_t)crc32_z(crc, o->index, (size_t)o->kept * PACK_RECORD_BYTES);
    char info[PACK_INFO_MAX + 1], abs[PATH_MAX];
    make_info(info, sizeof info, c, realpath(ds->root, abs) ? abs : ds->root);
    uint8_t hdr[PACK_HEADER_BYTES];
    put_header(hdr, c, ds->n_classes, o->kept, o->skipped, clen, o->nlen, o->doff, o->pos, crc, info);
    if (!o->a.failed && fseek(o->a.f, 0, SEEK_SET) != 0) o->a.failed = 1;
    atomic_write(&o->a, hdr, sizeof hdr);
    atomic_write(&o->a, cls, clen);
    atomic_write(&o->a, o->names, o->nlen);
    atomic_write(&o->a, o->index, (size_t)o->kept * PACK_RECORD_BYTES);
    free(cls);
    return atomic_commit(&o->a, err) == 0 ? 0 : -2;
}

int pack_write(const PackConfig *c, PackStats *st, Error *err) {
    memset(st, 0, sizeof *st);
    double t0 = now_seconds();
    Dataset ds;
    if (dataset_scan(&ds, c->data_dir, err) != 0) return -1;
    if (ds.pack) {
        dataset_free(&ds);
        return error_set(err, "--data_dir %s is already a pack; give the image folder it was made from", c->data_dir);
    }
    PackOut o = { .ds = &ds, .root = strlen(ds.root) };
    uint64_t clen = 0, nmax = 0;
    for (int k = 0; k < ds.n_classes; k++) clen += strlen(ds.classes[k]) + 1;
    for (int64_t i = 0; i < ds.n; i++) nmax += strlen(ds.paths[i] + o.root + 1) + 1;
    o.doff = (PACK_HEADER_BYTES + clen + nmax + (uint64_t)ds.n * PACK_RECORD_BYTES + 4095) & ~(uint64_t)4095;
    if (atomic_open(&o.a, c->out, err) != 0) {
        dataset_free(&ds);
        return -2;
    }
    cleanup_on_signals(o.a.tmp);
    reserve_head(&o.a, o.doff);
    o.index = xcalloc((size_t)ds.n, PACK_RECORD_BYTES);
    o.names = xmalloc(nmax + 1);
    o.pos = o.doff;
    convert_all(&o, c, t0);

    int rc;
    if (o.kept == 0) {
        rc = error_set(err, "no usable image in %s (all %lld were bad)", c->data_dir, (long long)ds.n);
        atomic_abort(&o.a);
    } else {
        rc = write_head(&o, c, clen, err);
    }
    cleanup_on_signals(NULL);
    *st = (PackStats){ .images = o.kept,
                       .skipped = o.skipped,
                       .bytes = (int64_t)o.pos,
                       .classes = ds.n_classes,
                       .seconds = now_seconds() - t0 };
    free(o.index);
    free(o.names);
    dataset_free(&ds);
    return rc;
}
