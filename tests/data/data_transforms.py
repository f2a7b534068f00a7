"""Transforms vs torchvision (PIL backend, what ImageFolder + the seed's
transforms run): for fixed crop boxes, flips and jitter factors/orders, the
train transform (RandomResizedCrop's resized_crop, hflip, ColorJitter's
adjust_brightness/contrast/saturation, ToTensor, Normalize) and the eval
transform (Resize((R, R)), CenterCrop(S), ToTensor, Normalize).

Tolerances:
 - exact mode (full-size decode): 0 — bit-identical floats. resize.c is
   Pillow's fixed-point resampler, the jitter is Pillow's Image.blend
   arithmetic, the normalisation torch's float32 ops.
 - fast mode (DCT-domain downscaling by n/8 before the resampler, what the
   loader does): libjpeg's scaled IDCT is a different low-pass than Pillow's
   antialiased triangle filter on full-size pixels, so pixels at sharp edges
   differ. Measured over these cases: worst mean |diff| 0.85 levels (of 255),
   99th percentile 4, max 15. Checked: mean <= 1.5 and p99 <= 8 levels.
   A crop shrunk by less than 2x is decoded at full size, so it is exact
   again (checked: max diff 0).

usage: data_transforms.py DATA_TOOL
"""
import os
import sys

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import Checker
from data_common import photo, read_raw, tool, tmpdir

exe = sys.argv[1]
C = Checker("data_transforms", quiet=True)
d = tmpdir("alexnet_transforms_")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
torch.set_num_threads(1)

images = {}
p = os.path.join(d, "photo.jpg"); photo(500, 375, 11).save(p, quality=90); images["jpeg 500x375"] = p
p = os.path.join(d, "portrait.png"); photo(300, 420, 12).save(p); images["png 300x420"] = p
p = os.path.join(d, "small.jpg"); photo(100, 80, 13).save(p, quality=95); images["jpeg 100x80"] = p
p = os.path.join(d, "gray.jpg"); photo(333, 250, 14, "L").save(p, quality=90); images["gray jpeg 333x250"] = p
p = os.path.join(d, "prog.jpg"); photo(640, 480, 15).save(p, quality=88, progressive=True); images["progressive 640x480"] = p
FAST = ["jpeg 500x375", "progressive 640x480", "gray jpeg 333x250"]

OPS = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation]


def reference_train(path, S, box, flip, jitter, factors, order):
    img = Image.open(path).convert("RGB")
    x = F.resized_crop(img, *box, [S, S], T.InterpolationMode.BILINEAR)
    if flip:
        x = F.hflip(x)
    if jitter:
        for op in order:
            x = OPS[op](x, factors[op])
    return np.asarray(x), F.normalize(F.to_tensor(x), MEAN, STD).numpy()


def reference_eval(path, S):
    R = round(S * 256 / 224)
    x = T.CenterCrop(S)(T.Resize((R, R))(Image.open(path).convert("RGB")))
    return np.asarray(x), F.normalize(F.to_tensor(x), MEAN, STD).numpy()


def ours_train(path, S, fmt, exact, box, flip, jitter, factors, order):
    out = os.path.join(d, "out.raw")
    tool(exe, "train", path, out, S, fmt, exact, *box, flip, jitter, *factors, *order)
    return read_raw(out, (S, S, 3)) if fmt == "u8" else read_raw(out, (3, S, S) if fmt == "nchw" else (S, S, 3), np.float32)


def ours_eval(path, S, fmt, exact, cmd="eval"):
    out = os.path.join(d, "out.raw")
    if cmd == "eval":
        tool(exe, "eval", path, out, S, fmt, exact)
    else:
        tool(exe, "predict", path, out, S, fmt)
    return read_raw(out, (S, S, 3)) if fmt == "u8" else read_raw(out, (3, S, S) if fmt == "nchw" else (S, S, 3), np.float32)


def level_stats(a, b):
    e = np.abs(a.astype(int) - b.astype(int))
    return e.mean(), np.percentile(e, 99), e.max()


def cases(W, H):
    """(box=(top, left, h, w), flip, jitter, factors, order)"""
    return [
        ((0, 0, H, W), 0, 0, (1, 1, 1), (0, 1, 2)),
        ((H // 7, W // 9, H // 2, int(W * 0.55)), 1, 1, (0.7, 1.3, 0.9), (0, 1, 2)),
        ((H // 3, W // 2, H // 3, W // 4), 0, 1, (1.35, 0.65, 1.2), (2, 0, 1)),
        ((3, 5, max(4, H // 10), max(4, W // 12)), 1, 1, (1.1, 1.2, 0.62), (1, 2, 0)),  # upsampling
        ((H - H // 4, 0, H // 4, W), 1, 1, (0.6, 1.4, 1.4), (2, 1, 0)),                  # a thin strip
        ((1, W - W // 3 - 1, H - 2, W // 3), 0, 1, (1.4, 0.6, 0.6), (1, 0, 2)),
    ]


fast_worst = []
for name, path in images.items():
    W, H = Image.open(path).size
    for S in (224, 64):
        for k, (box, flip, jit, fac, order) in enumerate(cases(W, H)):
            ref_u8, ref_f = reference_train(path, S, box, flip, jit, fac, order)
            tag = f"{name} S={S} case {k} box={box} flip={flip} jitter={jit}"
            got = ours_train(path, S, "nchw", 1, box, flip, jit, fac, order)
            C.check(np.array_equal(got, ref_f), f"train exact nchw {tag}: max |diff| {np.abs(got - ref_f).max():.3g}")
            if k == 1:
                got = ours_train(path, S, "nhwc", 1, box, flip, jit, fac, order)
                C.check(np.array_equal(got, ref_f.transpose(1, 2, 0)), f"train exact nhwc {tag}")
                got = ours_train(path, S, "u8", 1, box, flip, jit, fac, order)
                C.check(np.array_equal(got, ref_u8), f"train exact u8 {tag}")
            if name in FAST:
                got = ours_train(path, S, "u8", 0, box, flip, jit, fac, order)
                mean, p99, mx = level_stats(got, ref_u8)
                shrink = min(box[2], box[3]) / S
                if shrink < 2:
                    C.check(mx == 0, f"train fast u8 {tag}: no DCT scaling below 2x shrink, exact (max {mx})")
                else:
                    fast_worst.append((mean, p99, mx, tag))
                    C.check(mean <= 1.5 and p99 <= 8,
                            f"train fast u8 {tag}: mean {mean:.2f} p99 {p99:.0f} max {mx} levels (tol mean 1.5, p99 8)")
        ref_u8, ref_f = reference_eval(path, S)
        got = ours_eval(path, S, "nchw", 1)
        C.check(np.array_equal(got, ref_f), f"eval exact {name} S={S}: max |diff| {np.abs(got - ref_f).max():.3g}")
        got = ours_eval(path, S, "u8", 0)
        mean, p99, mx = level_stats(got, ref_u8)
        C.check(mean <= 1.5 and p99 <= 8, f"eval fast {name} S={S}: mean {mean:.2f} p99 {p99:.0f} max {mx} levels")
        if name in FAST:
            fast_worst.append((mean, p99, mx, f"eval {name} S={S}"))
        pred = ours_eval(path, S, "u8", 0, cmd="predict")
        C.check(np.array_equal(pred, got), f"predict == eval loader path {name} S={S}")

if fast_worst:
    m = max(fast_worst)
    print(f"fast path (DCT scaling): worst mean {m[0]:.2f} levels, p99 {max(f[1] for f in fast_worst):.0f}, "
          f"max {max(f[2] for f in fast_worst)} over {len(fast_worst)} cases")
C.done()
