"""Automatic augmentation (--auto-augment) vs torchvision, on PIL images as
torchvision's train.py runs it:

 - magnitude bins: every op's table of TrivialAugmentWide, RandAugment and
   AutoAugment (_augmentation_space) at three image sizes, float32 for
   float32 (torch.linspace's own values, which PyTorch's vectorised CPU
   kernel computes in its own order);
 - ops: each of the 15 ops through torchvision.transforms.autoaugment's
   _apply_op (the F.* functions on a PIL image) for a spread of magnitudes
   (every other TrivialAugment bin and the last, both signs, and
   RandAugment's values), nearest and bilinear, on photo-like images (square,
   landscape, portrait, odd sizes, greyscale) and on real photos where the
   machine has them: scikit-image's astronaut, cat and coffee (public
   domain / CC0), from Debian's python3-skimage when installed or from the
   folder $ALEXNET_TEST_PHOTOS (python3-skimage brings SciPy and ~40
   packages, too many for every CI machine; docs/TESTING.md says how to get
   the three files from its .deb);
 - the train transform with fixed parameters and a plan: crop, flip, jitter,
   the ops, ToTensor, Normalize;
 - the draws: our plans against the torchvision classes' own (their
   _apply_op replaced by a recorder) over 20,000 samples per policy: the
   same support, op frequencies, sign shares and bin means within 5
   standard errors (another RNG, so statistics).

Tolerance: 0 everywhere. The ops are Pillow's integer and float code paths
restated in C with the same order of operations (Pillow's 16.16 fixed-point
nearest affine, its bilinear filter's doubles, ImageEnhance's float blend,
ImageOps' tables), so the bytes are Pillow's; torchvision.transforms.v2 is
not in Debian 12's torchvision 0.14, and on PIL images v2's functional calls
the same Pillow functions.

usage: data_autoaugment.py DATA_TOOL
"""
import os
import subprocess
import sys

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.autoaugment as A
import torchvision.transforms.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import Checker
from data_common import photo, read_raw, tool, tmpdir

exe = sys.argv[1]
C = Checker("data_autoaugment", quiet=True)
d = tmpdir("alexnet_autoaugment_")
torch.set_num_threads(1)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NEAREST, BILINEAR = T.InterpolationMode.NEAREST, T.InterpolationMode.BILINEAR
GEOMETRY = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}
APPLY_OP = A._apply_op

# ---- magnitude tables -------------------------------------------------------
SPACES = {"ta_wide": lambda H, W: A.TrivialAugmentWide()._augmentation_space(31),
          "ra": lambda H, W: A.RandAugment()._augmentation_space(31, (H, W)),
          "imagenet": lambda H, W: A.AutoAugment()._augmentation_space(10, (H, W))}
for policy, space in SPACES.items():
    for W, H in ((224, 224), (96, 96), (500, 375)):
        ours = {}
        for line in tool(exe, "aa-space", policy, W, H).stdout.split("\n"):
            if line:
                name, signed, *vals = line.split()
                ours[name] = (int(signed), np.array([float(v) for v in vals], np.float32))
        bad = []
        for name, (mags, signed) in space(H, W).items():
            want = mags.to(torch.float32).numpy().reshape(-1) if mags.ndim > 0 else np.zeros(0, np.float32)
            got_signed, got = ours.get(name, (None, None))
            if got is None or got_signed != int(signed) or got.shape != want.shape or not np.array_equal(got, want):
                bad.append(f"{name}: ours {got} signed {got_signed}, torchvision {want} signed {signed}")
        C.check(not bad, f"{policy} {W}x{H}: every op's magnitude bins are torchvision's, float32 for float32 {bad[:2]}")

# ---- ops ---------------------------------------------------------------------
images = {"photo 224x224": photo(224, 224, 21), "photo 500x375": photo(500, 375, 22),
          "photo 131x97": photo(131, 97, 23), "grey 64x80": photo(64, 80, 24, "L").convert("RGB"),
          "flat 40x40": Image.new("RGB", (40, 40), (90, 200, 17))}
PHOTOS = [p for p in (os.environ.get("ALEXNET_TEST_PHOTOS"), "/usr/lib/python3/dist-packages/skimage/data") if p]
real = [os.path.join(p, f) for p in PHOTOS for f in ("astronaut.png", "chelsea.png", "coffee.png")
        if os.path.exists(os.path.join(p, f))]
for f in real:
    im = Image.open(f).convert("RGB")
    images[f"real {os.path.basename(f)} {im.size[0]}x{im.size[1]}"] = im
print(f"real photos: {len(real)} ({', '.join(real) or 'none: set ALEXNET_TEST_PHOTOS or install python3-skimage'})")

ta_space = A.TrivialAugmentWide()._augmentation_space(31)


def magnitudes(name, W, H):
    """TrivialAugmentWide's bins (every other one and the last; both signs where signed), RandAugment's bin 9
    and 30: every op's whole range without paying for all 61 values of each (the sanitizer run's time)"""
    mags, signed = ta_space.get(name, (torch.tensor(0.0), False))
    picked = [float(m) for m in mags[::2]] + [float(mags[-1])] if mags.ndim else [0.0]
    out = list(dict.fromkeys(picked))
    if signed and mags.ndim:
        out += [-m for m in out if m != 0.0]
    ra, ra_signed = A.RandAugment()._augmentation_space(31, (H, W)).get(name, (torch.tensor(0.0), False))
    if ra.ndim:
        out += [float(ra[9]), float(ra[30])] + ([-float(ra[9])] if ra_signed else [])
    if name == "Rotate":
        out += [90.0, -90.0, 180.0, 360.0, -0.0]
    return out


def ours_op(arr, name, mag, interp):
    H, W = arr.shape[:2]
    src, dst = os.path.join(d, "in.raw"), os.path.join(d, "out.raw")
    arr.tofile(src)
    tool(exe, "aa-op", src, W, H, dst, name, repr(mag), interp)
    return read_raw(dst, (H, W, 3))


ops = list(ta_space.keys()) + ["Invert"]
for label, img in images.items():
    arr = np.ascontiguousarray(np.asarray(img))
    H, W = arr.shape[:2]
    mags_all = {name: magnitudes(name, W, H) for name in ops}
    for name in ops:
        mags = mags_all[name]
        if "real" in label and len(mags) > 8:     # real photos are large: a spread of the bins
            mags = mags[::max(1, len(mags) // 8)]
        modes = (("nearest", NEAREST), ("bilinear", BILINEAR)) if name in GEOMETRY else (("nearest", NEAREST),)
        for interp, mode in modes:
            worst = (0, None)
            for m in mags:
                want = np.asarray(APPLY_OP(img, name, m, interpolation=mode, fill=None))
                got = ours_op(arr, name, m, interp)
                diff = int(np.abs(got.astype(int) - want.astype(int)).max())
                n_diff = int((got != want).any(axis=2).sum())
                if diff > worst[0]:
                    worst = (diff, f"magnitude {m}: {n_diff} pixels differ, max {diff}")
            C.check(worst[0] == 0, f"{label} {name} {interp}: {len(mags)} magnitudes equal torchvision's "
                                   f"_apply_op on the PIL image {worst[1] or ''}")

# ---- the train transform with a plan ----------------------------------------
p = os.path.join(d, "photo.jpg")
photo(300, 240, 31).save(p, quality=92)
OPS = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation]
for S, box, flip, jit, plan, interp in (
        (64, (10, 20, 200, 180), 1, 1, [("Rotate", -30.0), ("Equalize", 0.0)], "bilinear"),
        (96, (0, 0, 240, 300), 0, 0, [("ShearX", 0.3), ("Solarize", 110.5)], "nearest"),
        (72, (33, 41, 150, 150), 1, 0, [("TranslateY", -17.0)], "bilinear"),
        (64, (5, 5, 100, 120), 0, 1, [("Sharpness", -0.66), ("Posterize", 3.0)], "bilinear")):
    x = F.resized_crop(Image.open(p).convert("RGB"), *box, [S, S], BILINEAR)
    if flip:
        x = F.hflip(x)
    factors, order = (1.2, 0.7, 1.3), (2, 0, 1)
    if jit:
        for op in order:
            x = OPS[op](x, factors[op])
    for name, m in plan:
        x = APPLY_OP(x, name, m, interpolation=BILINEAR if interp == "bilinear" else NEAREST, fill=None)
    want = F.normalize(F.to_tensor(x), MEAN, STD).numpy()
    out = os.path.join(d, "train.raw")
    args = [a for name, m in plan for a in (name, repr(m))]
    tool(exe, "train", p, out, S, "nchw", 1, *box, flip, jit, *factors, *order, "aa", interp, *args)
    got = read_raw(out, (3, S, S), np.float32)
    C.check(np.array_equal(got, want), f"train transform S={S} with {plan} ({interp}): torchvision's floats, "
                                       f"max |diff| {np.abs(got - want).max():.3g}")

# ---- draws --------------------------------------------------------------------
N, S = 20000, 224


def theirs(policy):
    """N plans of torchvision's class, its _apply_op replaced by a recorder"""
    record = []
    A._apply_op = lambda img, name, m, interpolation, fill: record.append((name, m)) or img
    t = {"ta_wide": A.TrivialAugmentWide(), "ra": A.RandAugment(magnitude=7),
         "imagenet": A.AutoAugment(A.AutoAugmentPolicy.IMAGENET),
         "cifar10": A.AutoAugment(A.AutoAugmentPolicy.CIFAR10),
         "svhn": A.AutoAugment(A.AutoAugmentPolicy.SVHN)}[policy]
    torch.manual_seed(5)
    img = Image.new("RGB", (S, S))
    plans = []
    for _ in range(N):
        record.clear()
        t(img)
        plans.append(tuple(record))
    A._apply_op = APPLY_OP
    return plans


def ours(policy):
    lines = tool(exe, "aa-draw", policy, 7, S, 11, N).stdout.split("\n")[:N]
    plans = []
    for line in lines:
        w = [] if line == "-" else line.split()
        plans.append(tuple((w[k], float(w[k + 1]))
                           for k in range(0, len(w), 2)))
    return plans


def share_check(policy, what, a, b):
    """a, b: lists of 0/1 outcomes; shares within 5 standard errors"""
    pa, pb = np.mean(a), np.mean(b)
    se = np.sqrt(pa * (1 - pa) / len(a) + pb * (1 - pb) / len(b)) + 1e-12
    return abs(pa - pb) <= 5 * se + 1e-4, f"{what} {pa:.4f} vs {pb:.4f}"


for policy in ("ta_wide", "ra", "imagenet", "cifar10", "svhn"):
    o, t = ours(policy), theirs(policy)
    key = lambda op: (op[0], float(np.float32(abs(op[1]))))
    support_t = {key(op) for plan in t for op in plan}
    # the support: every (op, |magnitude|) we draw is one torchvision can draw (the tables are checked above;
    # with 20,000 samples each of TrivialAugment's ~380 outcomes appears in both)
    extra = {key(op) for plan in o for op in plan} - support_t
    C.check(len(o) == N and not extra, f"{policy}: {N} plans, each op and magnitude one torchvision draws "
                                       f"{sorted(extra)[:3]}")
    bad = []
    names = sorted({op[0] for plan in t for op in plan})
    for name in names:
        ok, msg = share_check(policy, f"{name} share", [sum(op[0] == name for op in p) for p in o],
                              [sum(op[0] == name for op in p) for p in t])
        if not ok:
            bad.append(msg)
        neg_o = [op[1] < 0 for p in o for op in p if op[0] == name and op[1] != 0]
        neg_t = [op[1] < 0 for p in t for op in p if op[0] == name and op[1] != 0]
        if neg_o and neg_t and name not in ("Posterize", "Solarize"):
            ok, msg = share_check(policy, f"{name} negative share", neg_o, neg_t)
            if not ok:
                bad.append(msg)
        mo = np.array([abs(op[1]) for p in o for op in p if op[0] == name])
        mt = np.array([abs(op[1]) for p in t for op in p if op[0] == name])
        if len(mo) > 1 and len(mt) > 1 and mt.std() > 0:
            se = np.sqrt(mo.var() / len(mo) + mt.var() / len(mt))
            if abs(mo.mean() - mt.mean()) > 5 * se:
                bad.append(f"{name} mean |magnitude| {mo.mean():.4f} vs {mt.mean():.4f}")
    ok, msg = share_check(policy, "plans of 2 ops", [len(p) == 2 for p in o], [len(p) == 2 for p in t])
    if not ok:
        bad.append(msg)
    C.check(not bad, f"{policy}: op shares, sign shares, mean magnitudes and plan lengths within 5 standard "
                     f"errors of torchvision's over {N} samples {bad[:3]}")

C.done()
