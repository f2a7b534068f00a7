"""Decoding vs PIL: every supported file kind, made with PIL, decoded by
data_tool and compared with Image.open(f).convert('RGB') — what torchvision's
ImageFolder sees.

Tolerance: exact (0 levels). Both sides run the same libjpeg-turbo with the
same settings (ISLOW IDCT, fancy upsampling) and the same PNG expansion
rules, so any difference is a bug. One documented exception: 16-bit grayscale
PNG, which PIL opens as mode "I" and clips to 255 when converting to RGB
(most such images come out white); we take the high byte, like PIL does for
16-bit RGB, and the test checks that.

Also: DCT-scaled decoding (n/8) equals PIL's draft() at the same scale, and
a rectangle decoded with jpeg_crop_scanline/jpeg_skip_scanlines equals the
same rectangle cut from the full decode.

usage: data_decode.py DATA_TOOL
"""
import math
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import Checker
from data_common import photo, read_raw, tool, tmpdir, write_png_raw

exe = sys.argv[1]
T = Checker("data_decode", quiet=True)
d = tmpdir("alexnet_decode_")


def ours(path):
    out = os.path.join(d, "out.rgb")
    r = tool(exe, "decode", path, out)
    w, h = map(int, r.stdout.split()[4:6])
    return read_raw(out, (h, w, 3))


def compare(name, path, expected, tol=0):
    got = ours(path)
    if not T.check(got.shape == expected.shape, f"{name}: shape {got.shape} vs {expected.shape}"):
        return
    diff = np.abs(got.astype(int) - expected.astype(int)).max()
    T.check(diff <= tol, f"{name}: max |ours - PIL| = {diff} levels (tol {tol})")


def pil_rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


base = photo(211, 157, seed=1)  # odd sizes: partial MCUs at the edges
files = {}

# --- JPEG ---
for name, kw in [("jpeg_420", dict(quality=90)), ("jpeg_444", dict(quality=92, subsampling=0)),
                 ("jpeg_422", dict(quality=85, subsampling=1)), ("jpeg_progressive", dict(quality=90, progressive=True))]:
    p = os.path.join(d, name + ".jpg")
    base.save(p, **kw)
    files[name] = p
p = os.path.join(d, "jpeg_gray.jpg")
base.convert("L").save(p, quality=90)
files["jpeg_gray"] = p
p = os.path.join(d, "jpeg_cmyk.jpg")
base.convert("CMYK").save(p, quality=95)  # PIL writes Adobe-inverted CMYK, like Photoshop
files["jpeg_cmyk"] = p
cmyk = np.asarray(Image.open(p))  # the decoded (inverted-convention) CMYK samples
raw = os.path.join(d, "cmyk.raw")
(255 - cmyk).astype(np.uint8).tofile(raw)  # back to the stored (inverted) values
p = os.path.join(d, "jpeg_ycck.jpg")
tool(exe, "ycck", raw, base.width, base.height, p)
files["jpeg_ycck"] = p
T.check(Image.open(p).mode == "CMYK", "YCCK file opens as CMYK in PIL")

for name, p in files.items():
    compare(name, p, pil_rgb(p))

# --- PNG ---
rgba = base.copy()
rgba.putalpha(Image.fromarray(np.random.default_rng(2).integers(0, 256, (157, 211), dtype=np.uint8)))
pngs = {"png_rgb": base, "png_rgba": rgba, "png_gray": base.convert("L"), "png_la": rgba.convert("LA"),
        "png_1bit": base.convert("1")}
pal = base.convert("P", palette=Image.ADAPTIVE, colors=37)
pal.info["transparency"] = 3
pngs["png_palette_trns"] = pal
for name, im in pngs.items():
    p = os.path.join(d, name + ".png")
    im.save(p, transparency=3) if name == "png_palette_trns" else im.save(p)
    compare(name, p, pil_rgb(p))

# 16-bit RGB (PIL reads the high byte) and 16-bit gray (see the docstring).
a16 = (np.asarray(base).astype(np.uint16) * 257 + np.random.default_rng(3).integers(0, 257, (157, 211, 3))).astype(">u2")
p = os.path.join(d, "png_rgb16.png")
write_png_raw(p, 211, 157, 16, 2, [a16[y].tobytes() for y in range(157)])
compare("png_rgb16", p, pil_rgb(p))
T.check(np.array_equal(pil_rgb(p), (a16.astype(np.uint16) >> 8).astype(np.uint8)), "png_rgb16: PIL takes the high byte")
g16 = a16[..., 0].copy()
p = os.path.join(d, "png_gray16.png")
write_png_raw(p, 211, 157, 16, 0, [g16[y].tobytes() for y in range(157)])
hi = (g16.astype(np.uint16) >> 8).astype(np.uint8)
compare("png_gray16 (high byte)", p, np.repeat(hi[..., None], 3, axis=2))

# Interlaced (Adam7) RGB: PIL can't write it, so pack it by hand.
arr = np.asarray(base)
p = os.path.join(d, "png_interlaced.png")
write_png_raw(p, 211, 157, 8, 2, lambda x0, y0, dx, dy: [arr[y, x0::dx].tobytes() for y in range(y0, 157, dy)] if x0 < 211 else [], interlace=1)
compare("png_interlaced", p, pil_rgb(p))

# A PNG with a .JPEG name (ImageNet's n02105855_2933.JPEG): the magic bytes decide.
p = os.path.join(d, "n02105855_2933.JPEG")
base.save(p, format="PNG")
compare("png_named_JPEG", p, pil_rgb(p))

# --- DCT scaling vs PIL's draft(), and region decoding vs the full decode ---
for name in ["jpeg_420", "jpeg_444", "jpeg_progressive", "jpeg_gray", "jpeg_cmyk"]:
    p = files[name]
    for num in [1, 2, 4, 8]:
        sw, sh = math.ceil(211 * num / 8), math.ceil(157 * num / 8)
        out = os.path.join(d, "scaled.rgb")
        r = tool(exe, "region", p, num, 0, 0, sw, sh, out)
        x0, y0, w, h, fw, fh = map(int, r.stdout.split())
        full = read_raw(out, (h, w, 3))
        if num in (1, 2, 4):
            im = Image.open(p)
            im.draft(im.mode, (211 * num // 8, 157 * num // 8))  # PIL picks the scale from W // w
            ref = np.asarray(im.convert("RGB"))
            ok = ref.shape == full.shape and np.array_equal(ref, full)
            T.check(ok, f"{name} at {num}/8: equals PIL draft() ({full.shape} vs {ref.shape})")
        for (rx0, ry0, rx1, ry1) in [(5, 3, sw - 7, sh - 2), (sw // 3, sh // 2, sw, sh), (0, sh // 3, sw // 2, sh // 3 + 9),
                                     (sw - 3, 1, sw, 4)]:
            if rx1 <= rx0 or ry1 <= ry0:
                continue
            r = tool(exe, "region", p, num, rx0, ry0, rx1, ry1, out)
            x0, y0, w, h, fw, fh = map(int, r.stdout.split())
            reg = read_raw(out, (h, w, 3))
            inside = x0 <= rx0 and x0 + w >= rx1 and y0 == ry0 and h == ry1 - ry0
            same = inside and np.array_equal(reg[:, rx0 - x0:rx1 - x0], full[ry0:ry1, rx0:rx1])
            T.check(inside and same, f"{name} {num}/8 region [{rx0},{rx1})x[{ry0},{ry1}) -> x0 {x0} w {w}: equals the full decode")

T.done()
