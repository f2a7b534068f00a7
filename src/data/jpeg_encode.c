/*
 * jpeg_encode.c — JPEG files through libjpeg, errors via setjmp (see jpeg_encode.h).
 */
#include "data/jpeg_encode.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} EncodeError;

static void on_error(j_common_ptr c) {
    EncodeError *e = (EncodeError *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jb, 1);
}

static void on_output(j_common_ptr c) { (void)c; }

/* The libjpeg calls; errors longjmp out of here. */
static void compress(struct jpeg_compress_struct *c, const uint8_t *px, int w, int h, int channels, int quality) {
    c->image_width = (JDIMENSION)w;
    c->image_height = (JDIMENSION)h;
    c->input_components = channels;
    c->in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(c);
    jpeg_set_quality(c, quality, TRUE);
    jpeg_start_compress(c, TRUE);
    while (c->next_scanline < c->image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c->next_scanline * (size_t)w * (size_t)channels);
        jpeg_write_scanlines(c, &row, 1);
    }
    jpeg_finish_compress(c);
}

int jpeg_write_file(const char *path, const uint8_t *px, int w, int h, int channels, int quality, Error *err) {
    CHECK(channels == 1 || channels == 3, "jpeg_write_file: %d channels", channels);
    FILE *f = fopen(path, "wb");
    if (!f) return error_set(err, "cannot write %s: %s", path, strerror(errno));
    struct jpeg_compress_struct c;
    EncodeError e;
    memset(&c, 0, sizeof c);
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.output_message = on_output;
    if (setjmp(e.jb)) {
        jpeg_destroy_compress(&c);
        fclose(f);
        return error_set(err, "cannot write %s: %s", path, e.msg);
    }
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    compress(&c, px, w, h, channels, quality);
    jpeg_destroy_compress(&c);
    if (fclose(f) != 0) return error_set(err, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

int jpeg_encode_mem(const uint8_t *px, int w, int h, int channels, int quality, uint8_t **out, size_t *size,
                    Error *err) {
    CHECK(channels == 1 || channels == 3, "jpeg_encode_mem: %d channels", channels);
    struct jpeg_compress_struct c;
    EncodeError e;
    memset(&c, 0, sizeof c);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.output_message = on_output;
    if (setjmp(e.jb)) {
        jpeg_destroy_compress(&c);
        free(buf);
        return error_set(err, "JPEG encoding failed: %s", e.msg);
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &len);
    compress(&c, px, w, h, channels, quality);
    jpeg_destroy_compress(&c);
    *out = buf;
    *size = len;
    return 0;
}
