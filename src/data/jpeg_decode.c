/*
 * jpeg_decode.c — region/scale JPEG decoding through libjpeg's jpeglib.h API
 * (see jpeg_decode.h).
 *
 * A RandomResizedCrop needs one rectangle of the image at one size, so this
 * uses libjpeg-turbo's three levers: DCT-domain scaling (scale_num/8: the
 * inverse DCT produces fewer pixels), jpeg_crop_scanline (no IDCT, upsampling
 * or colour conversion outside the needed columns) and jpeg_skip_scanlines
 * plus stopping early (rows above the rectangle are only entropy-decoded,
 * rows below are never read). Huffman decoding of the rows up to the bottom
 * of the rectangle remains; it is most of the cost.
 */
#include "data/jpeg_decode.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

/* Like TurboJPEG's TJFLAG_LIMITSCANS: a progressive file with thousands of
 * tiny scans can keep a decoder busy for minutes. */
#define JPEG_MAX_SCANS 500

struct JpegDecoder {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    int active; /* between open and the end of read: needs jpeg_abort_decompress */
    int has_warning;
    char msg[JMSG_LENGTH_MAX];
    char warning[JMSG_LENGTH_MAX];
};

static void on_error(j_common_ptr c) {
    JpegDecoder *d = (JpegDecoder *)c->client_data;
    c->err->format_message(c, d->msg);
    longjmp(d->jb, 1);
}

static void on_message(j_common_ptr c, int level) {
    if (level >= 0) return; /* trace messages */
    JpegDecoder *d = (JpegDecoder *)c->client_data;
    c->err->num_warnings++;
    if (!d->has_warning) {
        c->err->format_message(c, d->warning);
        d->has_warning = 1;
    }
}

static void on_output(j_common_ptr c) { (void)c; }

/* A failure found by our own checks inside the libjpeg calls: same exit as libjpeg's. */
static void fail(JpegDecoder *d, const char *fmt, ...) ALX_PRINTF(2, 3);
static void fail(JpegDecoder *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    longjmp(d->jb, 1);
}

static void on_progress(j_common_ptr c) {
    JpegDecoder *d = (JpegDecoder *)c->client_data;
    if (c->is_decompressor && ((j_decompress_ptr)c)->input_scan_number > JPEG_MAX_SCANS) {
        snprintf(d->msg, sizeof d->msg, "progressive JPEG with more than %d scans", JPEG_MAX_SCANS);
        longjmp(d->jb, 1);
    }
}

JpegDecoder *jpeg_decoder_create(void) {
    JpegDecoder *d = xcalloc(1, sizeof *d);
    d->cinfo.err = jpeg_std_error(&d->jerr);
    d->jerr.error_exit = on_error;
    d->jerr.emit_message = on_message;
    d->jerr.output_message = on_output;
    d->cinfo.client_data = d;
    if (setjmp(d->jb)) FATAL("libjpeg: %s", d->msg);
    jpeg_create_decompress(&d->cinfo);
    d->cinfo.client_data = d;
    d->progress.progress_monitor = on_progress;
    d->cinfo.progress = &d->progress;
    return d;
}

void jpeg_decoder_destroy(JpegDecoder *d) {
    if (!d) return;
    jpeg_destroy_decompress(&d->cinfo);
    free(d);
}

static void close_image(JpegDecoder *d) {
    if (d->active) jpeg_abort_decompress(&d->cinfo);
    d->active = 0;
}

/* Bytes of the whole-image coefficient buffer libjpeg keeps for a
 * progressive or multi-scan file (jdcoefct.c: every component's blocks,
 * rounded up to whole MCUs, 64 coefficients of 2 bytes); 0 for a
 * single-scan file, which is decoded row by row. */
static double coefficient_bytes(const struct jpeg_decompress_struct *c) {
    if (!c->progressive_mode && c->comps_in_scan >= c->num_components) return 0;
    double bytes = 0;
    for (int i = 0; i < c->num_components; i++) {
        const jpeg_component_info *ci = &c->comp_info[i];
        double w = ci->width_in_blocks, h = ci->height_in_blocks;
        w = ceil(w / ci->h_samp_factor) * ci->h_samp_factor;
        h = ceil(h / ci->v_samp_factor) * ci->v_samp_factor;
        bytes += w * h * 64 * sizeof(JCOEF);
    }
    return bytes;
}

int jpeg_decoder_open(JpegDecoder *d, const uint8_t *data, size_t size, size_t max_memory, int *width, int *height,
                      Error *err) {
    close_image(d);
    d->has_warning = 0;
    d->jerr.num_warnings = 0;
    if (setjmp(d->jb)) {
        close_image(d);
        return error_set(err, "%s", d->msg);
    }
    d->active = 1;
    d->cinfo.mem->max_memory_to_use = (long)max_memory;
    jpeg_mem_src(&d->cinfo, data, (unsigned long)size);
    jpeg_read_header(&d->cinfo, TRUE);
    double coef = coefficient_bytes(&d->cinfo);
    if (coef > (double)max_memory)
        fail(d,
             "a %s JPEG of %ux%u pixels needs %.0f MB of coefficients to decode, more than the decoder's %.0f MB "
             "(raise --max_image_pixels to allow it)",
             d->cinfo.progressive_mode ? "progressive" : "multi-scan", d->cinfo.image_width, d->cinfo.image_height,
             coef / 1e6, (double)max_memory / 1e6);
    *width = (int)d->cinfo.image_width;
    *height = (int)d->cinfo.image_height;
    return 0;
}

void jpeg_scaled_size(int width, int height, int scale_num, int *sw, int *sh) {
    *sw = (int)(((int64_t)width * scale_num + 7) / 8);
    *sh = (int)(((int64_t)height * scale_num + 7) / 8);
}

/* PIL's CMYK -> RGB on Adobe-inverted samples (PIL reads every CMYK JPEG as
 * "CMYK;I"), in place: with c = 255 - raw, nk = 255 - k = raw_k,
 * out = nk - c*nk/255. */
static void cmyk_to_rgbx(uint8_t *px, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = px + 4 * i;
        int nk = p[3];
        for (int c = 0; c < 3; c++) {
            int t = (255 - p[c]) * nk + 128;
            int v = nk - (((t >> 8) + t) >> 8);
            p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        p[3] = 255;
    }
}

/* The libjpeg calls of jpeg_decoder_read(); errors longjmp out of here. */
static void read_region(JpegDecoder *d, int scale_num, int x0, int y0, int x1, int y1, Pixels *out) {
    struct jpeg_decompress_struct *c = &d->cinfo;
    c->scale_num = (unsigned)scale_num;
    c->scale_denom = 8;
    c->dct_method = JDCT_ISLOW; /* PIL's default: same pixels as torchvision at full scale */
    int cmyk = c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK;
    c->out_color_space = cmyk ? JCS_CMYK : JCS_EXT_RGBX;
    jpeg_start_decompress(c);
    int W = (int)c->output_width, H = (int)c->output_height;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > W) x1 = W;
    if (y1 > H) y1 = H;
    if (!(x0 < x1 && y0 < y1)) fail(d, "empty region [%d,%d)x[%d,%d) of the %dx%d image", x0, x1, y0, y1, W, H);
    /* Fancy (triangle) chroma upsampling treats a crop edge as an image edge,
     * which changes the edge column; one column of margin keeps the asked
     * columns identical to a full decode. */
    int cx0 = x0 > 0 ? x0 - 1 : 0, cx1 = x1 < W ? x1 + 1 : W;
    JDIMENSION xoff = (JDIMENSION)cx0, cw = (JDIMENSION)(cx1 - cx0);
    if (cx0 > 0 || cx1 < W) jpeg_crop_scanline(c, &xoff, &cw);
    if (c->output_components != 4) fail(d, "libjpeg gave %d components instead of 4", c->output_components);
    size_t in_stride = (size_t)cw * 4;
    int rows = y1 - y0;
    uint8_t *buf = pixels_reserve(out, in_stride * (size_t)rows);
    if (!buf) fail(d, "not enough memory for %zu bytes of pixels", in_stride * (size_t)rows);
    if (y0 > 0) {
        JDIMENSION skipped = jpeg_skip_scanlines(c, (JDIMENSION)y0);
        if (skipped != (JDIMENSION)y0) fail(d, "could skip only %u of the first %d rows", skipped, y0);
    }
    while ((int)c->output_scanline < y1) {
        JSAMPROW ptrs[16];
        int want = y1 - (int)c->output_scanline;
        if (want > 16) want = 16;
        for (int r = 0; r < want; r++) ptrs[r] = buf + (size_t)((int)c->output_scanline - y0 + r) * in_stride;
        JDIMENSION got = jpeg_read_scanlines(c, ptrs, (JDIMENSION)want);
        if (got == 0) fail(d, "no rows after row %u", c->output_scanline);
    }
    close_image(d);
    if (cmyk) cmyk_to_rgbx(buf, (size_t)cw * (size_t)rows);
    out->px = buf;
    out->x0 = (int)xoff;
    out->y0 = y0;
    out->w = (int)cw;
    out->h = rows;
    out->stride = in_stride;
    out->full_w = W;
    out->full_h = H;
    out->scale_num = scale_num;
}

int jpeg_decoder_read(JpegDecoder *d, int scale_num, int x0, int y0, int x1, int y1, Pixels *out, Error *err) {
    CHECK(d->active, "jpeg_decoder_read without an open image");
    CHECK(scale_num >= 1 && scale_num <= 8, "bad JPEG scale %d/8", scale_num);
    if (setjmp(d->jb)) {
        close_image(d);
        return error_set(err, "%s", d->msg);
    }
    read_region(d, scale_num, x0, y0, x1, y1, out);
    return 0;
}

const char *jpeg_decoder_warning(const JpegDecoder *d) { return d->has_warning ? d->warning : NULL; }
