/*
 * image.c — file reading, format sniffing and decode dispatch (see image.h).
 */
#include "data/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/jpeg_decode.h"
#include "data/png_decode.h"

/* A file buffer this big is given back after use rather than kept per thread. */
#define KEEP_FILE_BUFFER (32u << 20)

struct ImageDecoder {
    const char *path;    /* of the open image (the caller's string) */
    const uint8_t *data; /* its bytes: file, or the caller's memory */
    uint8_t *file;       /* buffer for files read */
    size_t size, cap;
    ImageFormat fmt;
    int width, height;
    const char *warning; /* of the last decode */
    JpegDecoder *jpeg;
    PngDecoder *png;
};

ImageFormat image_sniff(const uint8_t *p, size_t n) {
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return IMAGE_JPEG;
    static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };
    if (n >= 8 && memcmp(p, png_magic, 8) == 0) return IMAGE_PNG;
    return IMAGE_UNKNOWN;
}

/* A name for formats we don't read, for the message. */
static const char *other_format(const uint8_t *p, size_t n) {
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return "a GIF image";
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') return "a BMP image";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return "a WebP image";
    if (n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0)) return "a TIFF image";
    if (n >= 2 && p[0] == 0xFF && p[1] == 0xD8) return "a JPEG start marker followed by garbage";
    if (n >= 4 && memcmp(p, "\x89PNG", 4) == 0) return "a damaged PNG signature";
    return NULL;
}

ImageDecoder *image_decoder_create(void) {
    ImageDecoder *d = xcalloc(1, sizeof *d);
    d->jpeg = jpeg_decoder_create();
    d->png = png_decoder_create();
    return d;
}

void image_decoder_destroy(ImageDecoder *d) {
    if (!d) return;
    jpeg_decoder_destroy(d->jpeg);
    png_decoder_destroy(d->png);
    free(d->file);
    free(d);
}

static int read_file(ImageDecoder *d, const char *path, int64_t max_pixels, Error *err) {
    int64_t file_size;
    int fd = open_regular_file(path, &file_size, err); /* a FIFO named like an image must not block the worker */
    if (fd < 0) return -1;
    if (file_size == 0) {
        close(fd);
        return error_set(err, "%s: empty file (0 bytes)", path);
    }
    /* No JPEG or PNG of max_pixels pixels needs more than ~4 bytes a pixel. */
    int64_t limit = max_pixels * 8 + (16 << 20);
    if (file_size > limit) {
        close(fd);
        return error_set(err, "%s: file of %lld bytes is larger than any image under the %lld-pixel limit", path,
                         (long long)file_size, (long long)max_pixels);
    }
    size_t size = (size_t)file_size;
    if (size > d->cap) {
        free(d->file);
        d->file = xmalloc(size);
        d->cap = size;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, d->file + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            return error_set(err, "%s: read failed: %s", path, e ? strerror(e) : "file shrank while reading");
        }
        got += (size_t)r;
    }
    close(fd);
    d->size = size;
    d->data = d->file;
    return 0;
}

int image_open(ImageDecoder *d, const char *path, int64_t max_pixels, int *width, int *height, Error *err) {
    ImageSource src = { .name = path };
    return image_open_source(d, &src, max_pixels, width, height, err);
}

/* Copies [x0,x1) x [y0,y1) of raw RGB into RGBX pixels. */
static int read_raw(const ImageDecoder *d, int x0, int y0, int x1, int y1, Pixels *out, Error *err) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > d->width) x1 = d->width;
    if (y1 > d->height) y1 = d->height;
    if (!(x0 < x1 && y0 < y1))
        return error_set(err, "empty region [%d,%d)x[%d,%d) of the %dx%d image", x0, x1, y0, y1, d->width, d->height);
    size_t w = (size_t)(x1 - x0), stride = w * 4;
    uint8_t *buf = pixels_reserve(out, stride * (size_t)(y1 - y0));
    if (!buf) return error_set(err, "not enough memory for %zu bytes of pixels", stride * (size_t)(y1 - y0));
    for (int y = y0; y < y1; y++) {
        const uint8_t *s = d->data + ((size_t)y * (size_t)d->width + (size_t)x0) * 3;
        uint8_t *o = buf + (size_t)(y - y0) * stride;
        for (size_t x = 0; x < w; x++, s += 3, o += 4) {
            o[0] = s[0];
            o[1] = s[1];
            o[2] = s[2];
            o[3] = 255;
        }
    }
    *out = (Pixels){ .px = buf,
                     .x0 = x0,
                     .y0 = y0,
                     .w = (int)w,
                     .h = y1 - y0,
                     .stride = stride,
                     .full_w = d->width,
                     .full_h = d->height,
                     .scale_num = 8,
                     .buf = out->buf,
                     .cap = out->cap };
    return 0;
}

int image_open_source(ImageDecoder *d, const ImageSource *src, int64_t max_pixels, int *width, int *height,
                      Error *err) {
    if (max_pixels <= 0) max_pixels = IMAGE_DEFAULT_MAX_PIXELS;
    const char *path = src->name;
    d->path = path;
    d->fmt = IMAGE_UNKNOWN;
    d->warning = NULL;
    Error e;
    int rc = -1, w = 0, h = 0;
    if (src->data) {
        d->data = src->data;
        d->size = src->size;
        if (d->size == 0) return error_set(err, "%s: empty record (0 bytes)", path);
    } else if (read_file(d, path, max_pixels, err) != 0) {
        return -1;
    }
    d->fmt = src->raw_w > 0 ? IMAGE_RAW : image_sniff(d->data, d->size);
    switch (d->fmt) {
    case IMAGE_RAW:
        w = src->raw_w;
        h = src->raw_h;
        rc = h > 0 && (uint64_t)w * (uint64_t)h * 3 == d->size
                 ? 0
                 : error_set(&e, "%zu bytes are not %dx%d RGB", d->size, w, h);
        break;
    case IMAGE_JPEG:
        rc = jpeg_decoder_open(d->jpeg, d->data, d->size, image_jpeg_memory(max_pixels), &w, &h, &e);
        break;
    case IMAGE_PNG: rc = png_decoder_open(d->png, d->data, d->size, &w, &h, &e); break;
    case IMAGE_UNKNOWN: {
        const uint8_t *p = d->data;
        const char *what = other_format(p, d->size);
        if (what) return error_set(err, "%s: not a JPEG or PNG file (%s)", path, what);
        return error_set(err, "%s: not a JPEG or PNG file (starts with %02x %02x %02x %02x)", path, p[0],
                         d->size > 1 ? p[1] : 0, d->size > 2 ? p[2] : 0, d->size > 3 ? p[3] : 0);
    }
    }
    if (rc != 0) {
        const char *kind = d->fmt == IMAGE_PNG ? "PNG" : d->fmt == IMAGE_RAW ? "raw" : "JPEG";
        d->fmt = IMAGE_UNKNOWN;
        return error_set(err, "%s: bad %s header: %s", path, kind, e.msg);
    }
    if (w <= 0 || h <= 0) {
        d->fmt = IMAGE_UNKNOWN;
        return error_set(err, "%s: image has no pixels (%dx%d)", path, w, h);
    }
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE) {
        d->fmt = IMAGE_UNKNOWN;
        return error_set(err, "%s: header declares %dx%d pixels; each side may be at most %d", path, w, h,
                         IMAGE_MAX_SIDE);
    }
    if ((int64_t)w * h > max_pixels) {
        d->fmt = IMAGE_UNKNOWN;
        return error_set(err,
                         "%s: header declares %dx%d = %lld pixels, more than the limit of %lld "
                         "(--max_image_pixels; a decompression bomb?)",
                         path, w, h, (long long)w * h, (long long)max_pixels);
    }
    d->width = w;
    d->height = h;
    *width = w;
    *height = h;
    return 0;
}

size_t image_jpeg_memory(int64_t max_pixels) {
    if (max_pixels <= 0) max_pixels = IMAGE_DEFAULT_MAX_PIXELS;
    return (size_t)(3 * max_pixels) + ((size_t)16 << 20);
}

void image_close(ImageDecoder *d) {
    d->fmt = IMAGE_UNKNOWN;
    if (d->cap > KEEP_FILE_BUFFER) {
        free(d->file);
        d->file = NULL;
        d->cap = 0;
    }
}

int image_can_scale(const ImageDecoder *d) { return d->fmt == IMAGE_JPEG; }

void image_scaled_size(const ImageDecoder *d, int scale_num, int *sw, int *sh) {
    if (d->fmt == IMAGE_JPEG) {
        jpeg_scaled_size(d->width, d->height, scale_num, sw, sh);
    } else {
        *sw = d->width;
        *sh = d->height;
    }
}

int image_decode(ImageDecoder *d, int scale_num, int x0, int y0, int x1, int y1, Pixels *out, Error *err) {
    CHECK(d->fmt != IMAGE_UNKNOWN, "image_decode without an open image");
    Error e;
    int rc;
    if (d->fmt == IMAGE_JPEG) {
        rc = jpeg_decoder_read(d->jpeg, scale_num, x0, y0, x1, y1, out, &e);
    } else if (d->fmt == IMAGE_RAW) {
        CHECK(scale_num == 8, "raw pixels can't be decoded at scale %d/8", scale_num);
        rc = read_raw(d, x0, y0, x1, y1, out, &e);
    } else {
        CHECK(scale_num == 8, "PNG can't be decoded at scale %d/8", scale_num);
        rc = png_decoder_read(d->png, x0, y0, x1, y1, out, &e);
    }
    const char *kind = d->fmt == IMAGE_PNG ? "PNG" : d->fmt == IMAGE_RAW ? "raw" : "JPEG";
    d->warning = d->fmt == IMAGE_JPEG ? jpeg_decoder_warning(d->jpeg) : NULL;
    image_close(d);
    if (rc != 0) return error_set(err, "%s: corrupt %s data: %s", d->path, kind, e.msg);
    return 0;
}

const char *image_warning(const ImageDecoder *d) { return d->warning; }
