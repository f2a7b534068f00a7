/*
 * png_decode.c — PNG to RGB with libpng, errors via setjmp (see png_decode.h).
 *
 * PNG rows depend on the rows above them, so there is no scaling or skipping:
 * a non-interlaced file is decoded row by row up to the last row needed
 * (keeping only the needed columns); an interlaced one is decoded whole.
 */
#include "data/png_decode.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <png.h>

struct PngDecoder {
    png_structp png;
    png_infop info;
    jmp_buf jb;
    const uint8_t *data;
    size_t size, pos;
    uint8_t *row; /* one full-width row, or the whole image when interlaced */
    size_t row_cap;
    char msg[256];
};

static void on_error(png_structp png, png_const_charp msg) {
    PngDecoder *d = png_get_error_ptr(png);
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    longjmp(d->jb, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png; /* like PIL: ancillary-chunk complaints don't matter for the pixels */
    (void)msg;
}

static void on_read(png_structp png, png_bytep dst, png_size_t n) {
    PngDecoder *d = png_get_io_ptr(png);
    if (n > d->size - d->pos) png_error(png, "file ends early (truncated PNG)");
    memcpy(dst, d->data + d->pos, n);
    d->pos += n;
}

PngDecoder *png_decoder_create(void) { return xcalloc(1, sizeof(PngDecoder)); }

static void close_image(PngDecoder *d) {
    if (d->png) png_destroy_read_struct(&d->png, &d->info, NULL);
    d->png = NULL;
    d->info = NULL;
}

void png_decoder_destroy(PngDecoder *d) {
    if (!d) return;
    close_image(d);
    free(d->row);
    free(d);
}

int png_decoder_open(PngDecoder *d, const uint8_t *data, size_t size, int *width, int *height, Error *err) {
    close_image(d);
    d->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, d, on_error, on_warning);
    CHECK(d->png, "png_create_read_struct failed");
    d->info = png_create_info_struct(d->png);
    CHECK(d->info, "png_create_info_struct failed");
    d->data = data;
    d->size = size;
    d->pos = 0;
    if (setjmp(d->jb)) {
        close_image(d);
        return error_set(err, "%s", d->msg);
    }
    png_set_read_fn(d->png, d, on_read);
    /* Our own pixel limit (image.c) is the guard; lift libpng's 1M-per-side default. */
    png_set_user_limits(d->png, 0x7fffffff, 0x7fffffff);
    png_read_info(d->png, d->info);
    *width = (int)png_get_image_width(d->png, d->info);
    *height = (int)png_get_image_height(d->png, d->info);
    return 0;
}

/* Room for `bytes` bytes of rows, or a libpng error (a bad file) when memory is short. */
static uint8_t *reserve_row(PngDecoder *d, size_t bytes) {
    if (bytes > d->row_cap) {
        free(d->row);
        d->row = malloc(bytes);
        d->row_cap = d->row ? bytes : 0;
        if (!d->row) png_error(d->png, "not enough memory for the rows");
    }
    return d->row;
}

/* The libpng calls of png_decoder_read(); errors longjmp out of here. */
static void read_region(PngDecoder *d, int x0, int y0, int x1, int y1, Pixels *out) {
    png_structp png = d->png;
    png_infop info = d->info;
    int W = (int)png_get_image_width(png, info), H = (int)png_get_image_height(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    /* Alpha, if any, becomes the X byte (dropped, as convert('RGB') does); otherwise a filler. */
    int alpha =
        (color & PNG_COLOR_MASK_ALPHA) || (color == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS));
    if (!alpha) png_set_filler(png, 0xFF, PNG_FILLER_AFTER);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 4 || png_get_bit_depth(png, info) != 8) {
        snprintf(d->msg, sizeof d->msg, "libpng produced %d channels of %d bits instead of RGBX",
                 png_get_channels(png, info), png_get_bit_depth(png, info));
        longjmp(d->jb, 1);
    }
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)W * 4) png_error(png, "unexpected row size");

    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > W) x1 = W;
    if (y1 > H) y1 = H;
    if (!(x0 < x1 && y0 < y1)) png_error(png, "empty region");
    size_t stride = (size_t)(x1 - x0) * 4;
    uint8_t *dst = pixels_reserve(out, stride * (size_t)(y1 - y0));
    if (!dst) png_error(png, "not enough memory for the pixels");
    if (passes > 1) {
        uint8_t *img = reserve_row(d, rowbytes * (size_t)H);
        for (int p = 0; p < passes; p++)
            for (int y = 0; y < H; y++) png_read_row(png, img + (size_t)y * rowbytes, NULL);
        for (int y = y0; y < y1; y++)
            memcpy(dst + (size_t)(y - y0) * stride, img + (size_t)y * rowbytes + (size_t)x0 * 4, stride);
    } else {
        uint8_t *row = reserve_row(d, rowbytes);
        for (int y = 0; y < y1; y++) {
            png_read_row(png, row, NULL);
            if (y >= y0) memcpy(dst + (size_t)(y - y0) * stride, row + (size_t)x0 * 4, stride);
        }
    }
    close_image(d);
    out->x0 = x0;
    out->y0 = y0;
    out->w = x1 - x0;
    out->h = y1 - y0;
    out->stride = stride;
    out->full_w = W;
    out->full_h = H;
    out->scale_num = 8;
}

int png_decoder_read(PngDecoder *d, int x0, int y0, int x1, int y1, Pixels *out, Error *err) {
    CHECK(d->png, "png_decoder_read without an open image");
    if (setjmp(d->jb)) {
        close_image(d);
        return error_set(err, "%s", d->msg);
    }
    read_region(d, x0, y0, x1, y1, out);
    return 0;
}
