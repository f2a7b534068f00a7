/*
 * image.h — one image file: reading, format sniffing (by magic bytes, never
 * by name), the header check against the pixel limit, and decode dispatch to
 * JPEG or PNG.
 *
 * Every failure a file can cause comes back as -1 with a reason in err that
 * names the file; nothing a file contains can abort the process.
 */
#ifndef ALEXNET_IMAGE_H
#define ALEXNET_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "data/pixels.h"

#define IMAGE_DEFAULT_MAX_PIXELS 100000000LL /* like PIL's decompression-bomb guard */
/* Each side at most this many pixels, whatever the pixel limit (JPEG's own
 * limit is 65500): keeps every per-row and per-column size small. */
#define IMAGE_MAX_SIDE           65535

typedef enum { IMAGE_UNKNOWN = 0, IMAGE_JPEG, IMAGE_PNG, IMAGE_RAW } ImageFormat;

/* Where an image's bytes are: a file (data NULL: name is read), or bytes in
 * memory (a pack record; name is only for messages) holding a JPEG or PNG
 * file, or raw RGB pixels when raw_w > 0. */
typedef struct {
    const char *name;
    const uint8_t *data;
    size_t size;
    int raw_w, raw_h;
} ImageSource;

/* The format from the first bytes: JPEG (FF D8 FF) or PNG (89 'PNG' 0D 0A 1A 0A). */
ImageFormat image_sniff(const uint8_t *data, size_t size);

typedef struct ImageDecoder ImageDecoder; /* one per thread; buffers reused across images */

ImageDecoder *image_decoder_create(void);
void image_decoder_destroy(ImageDecoder *d);

/* Reads the file and its header. Fails (-1, err names the file and the
 * reason) on a missing/empty/unreadable file, an unknown format, a bad header,
 * a side over IMAGE_MAX_SIDE or a header declaring more than max_pixels
 * pixels (0: the default) — before any pixel memory is allocated. */
int image_open(ImageDecoder *d, const char *path, int64_t max_pixels, int *width, int *height, Error *err);
/* The same for any source; the bytes of an in-memory one must stay alive
 * until the image is decoded or closed. */
int image_open_source(ImageDecoder *d, const ImageSource *src, int64_t max_pixels, int *width, int *height, Error *err);

/* What libjpeg may allocate per decoder under a pixel limit (its
 * max_memory_to_use): 3 bytes per allowed pixel + 16 MiB. A progressive or
 * multi-scan JPEG keeps all its coefficients (2 bytes a pixel for gray, 3
 * for 4:2:0, 6 for 4:4:4, 8 for CMYK); one needing more is a bad file. */
size_t image_jpeg_memory(int64_t max_pixels);

/* Closes an open image without decoding it (image_decode closes it too). */
void image_close(ImageDecoder *d);

/* Whether the open image can be decoded at scale n/8 < 1 (JPEG). */
int image_can_scale(const ImageDecoder *d);

/* Size of the open image decoded at scale_num/8. */
void image_scaled_size(const ImageDecoder *d, int scale_num, int *sw, int *sh);

/* Decodes [x0,x1) x [y0,y1) of the open image at scale_num/8 (8 for PNG) into
 * out (which may hold a larger rectangle) and closes the image. 0, or -1 with
 * err naming the file. */
int image_decode(ImageDecoder *d, int scale_num, int x0, int y0, int x1, int y1, Pixels *out, Error *err);

/* A warning of the last decode (a JPEG that ends mid-scan, corrupt data that
 * was decoded anyway), or NULL. */
const char *image_warning(const ImageDecoder *d);

#endif
