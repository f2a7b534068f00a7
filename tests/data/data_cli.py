"""The data commands end to end: `alexnet prepare fashion-mnist` on small
hand-made IDX files (layout, class-folder order = label order, pixels within
JPEG quality-100 error) and on broken ones (each refused with a message
naming the file, exit 2), on Debian's real files when installed (--limit);
`alexnet prepare synthetic` (deterministic, learnable layout);
`alexnet bench-data --json`.

usage: data_cli.py ALEXNET
"""
import glob
import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import Checker
from data_common import tmpdir

exe = sys.argv[1]
C = Checker("data_cli", quiet=True)
d = tmpdir("alexnet_cli_data_")
CLASSES = ["0-T-shirt_top", "1-Trouser", "2-Pullover", "3-Dress", "4-Coat", "5-Sandal", "6-Shirt", "7-Sneaker",
           "8-Bag", "9-Ankle_boot"]


def run(*args):
    return subprocess.run([exe] + [str(a) for a in args], capture_output=True, text=True)


def idx_images(a, magic=0x803):
    return struct.pack(">IIII", magic, a.shape[0], a.shape[1], a.shape[2]) + a.tobytes()


def idx_labels(a, magic=0x801):
    return struct.pack(">II", magic, a.shape[0]) + a.tobytes()


def write_source(path, files):
    os.makedirs(path, exist_ok=True)
    for name, data in files.items():
        with (gzip.open if name.endswith(".gz") else open)(os.path.join(path, name), "wb") as f:
            f.write(data)


rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:28, 0:28]
def fmnist_like(n):  # smooth shapes, like the real data (JPEG error grows with noise)
    out = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        cx, cy, r = rng.uniform(8, 20, 3)
        out[i] = np.clip(255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (r / 2) ** 2)) + rng.normal(0, 3, (28, 28)), 0, 255)
    return out


tr_x, tr_y = fmnist_like(23), rng.integers(0, 10, 23).astype(np.uint8)
te_x, te_y = fmnist_like(7), rng.integers(0, 10, 7).astype(np.uint8)
good = {"train-images-idx3-ubyte.gz": idx_images(tr_x), "train-labels-idx1-ubyte.gz": idx_labels(tr_y),
        "t10k-images-idx3-ubyte.gz": idx_images(te_x), "t10k-labels-idx1-ubyte.gz": idx_labels(te_y)}
src = os.path.join(d, "src_good")
write_source(src, good)
out = os.path.join(d, "fm")
r = run("prepare", "fashion-mnist", "--source", src, "--out", out)
if C.check(r.returncode == 0, f"prepare fashion-mnist (rc {r.returncode}: {r.stderr})"):
    for split, x, y in (("train", tr_x, tr_y), ("val", te_x, te_y)):
        dirs = sorted(os.listdir(os.path.join(out, split)))
        C.check(dirs == CLASSES, f"{split}: class folders {dirs}")
        worst = 0
        for i in range(len(y)):
            p = os.path.join(out, split, CLASSES[y[i]], f"{i:05d}.jpg")
            if not C.check(os.path.exists(p), f"{split} image {i} at {p}"):
                continue
            im = Image.open(p)
            C.check(im.mode == "L" and im.size == (28, 28), f"{p}: {im.mode} {im.size}")
            worst = max(worst, int(np.abs(np.asarray(im).astype(int) - x[i]).max()))
        C.check(worst <= 4, f"{split}: JPEG quality 100 max pixel error {worst} <= 4 levels")
        # ImageFolder order: sorted class folders, label = index == the IDX label.
        files = sorted(glob.glob(os.path.join(out, split, "*", "*.jpg")))
        labels = {int(os.path.basename(f)[:-4]): CLASSES.index(os.path.basename(os.path.dirname(f))) for f in files}
        C.check(all(labels[i] == y[i] for i in range(len(y))) and len(files) == len(y), f"{split}: folder label == IDX label")

bad_cases = {
    "magic": ({"train-images-idx3-ubyte.gz": idx_images(tr_x, magic=0x804)}, "train-images", "IDX"),
    "count": ({"train-labels-idx1-ubyte.gz": idx_labels(tr_y[:20])}, "train-labels", "23 images but"),
    "short": ({"train-images-idx3-ubyte.gz": idx_images(tr_x)[:-100]}, "train-images", "ends early"),
    "extra": ({"t10k-labels-idx1-ubyte.gz": idx_labels(te_y) + b"xx"}, "t10k-labels", "extra data"),
    "label": ({"train-labels-idx1-ubyte.gz": idx_labels(np.where(tr_y == 3, 11, tr_y).astype(np.uint8))}, "train-labels", "label 11"),
    "rank": ({"train-images-idx3-ubyte.gz": struct.pack(">II", 0x801, 23) + tr_x.tobytes()}, "train-images", "dimensions"),
    "missing": ({}, "t10k-images", "cannot open"),
}
for name, (replace, file, msg) in bad_cases.items():
    files = dict(good)
    files.update(replace)
    if name == "missing":
        del files["t10k-images-idx3-ubyte.gz"]
    s = os.path.join(d, "src_" + name)
    write_source(s, files)
    r = run("prepare", "fashion-mnist", "--source", s, "--out", os.path.join(d, "out_" + name))
    C.check(r.returncode == 2 and file in r.stderr and msg in r.stderr,
            f"bad IDX ({name}): exit {r.returncode}, message names {file} and says '{msg}': {r.stderr.strip()}")

real = "/usr/share/datasets/fashion-mnist"
if os.path.exists(os.path.join(real, "train-images-idx3-ubyte.gz")):
    r = run("prepare", "fashion-mnist", "--out", os.path.join(d, "real"), "--limit", 50)
    n_tr = len(glob.glob(os.path.join(d, "real", "train", "*", "*.jpg")))
    n_va = len(glob.glob(os.path.join(d, "real", "val", "*", "*.jpg")))
    C.check(r.returncode == 0 and n_tr == 50 and n_va == 50, f"Debian's Fashion-MNIST, --limit 50: {n_tr} + {n_va} ({r.stderr})")

# synthetic: deterministic in the flags, one folder per class
for k, seed in ((0, 1), (1, 1), (2, 2)):
    r = run("prepare", "synthetic", "--out", os.path.join(d, f"syn{k}"), "--classes", 3, "--per_class", 4, "--size", "96x72",
            "--seed", seed)
    C.check(r.returncode == 0, f"prepare synthetic {k}: {r.stderr}")
f0 = sorted(glob.glob(os.path.join(d, "syn0", "*", "*.jpg")))
C.check(len(f0) == 12 and sorted(os.listdir(os.path.join(d, "syn0"))) == ["class_000", "class_001", "class_002"],
        f"synthetic layout: {len(f0)} files")
C.check(Image.open(f0[0]).size == (96, 72), "synthetic image size")
same = all(open(a, "rb").read() == open(a.replace("syn0", "syn1"), "rb").read() for a in f0)
diff = any(open(a, "rb").read() != open(a.replace("syn0", "syn2"), "rb").read() for a in f0)
C.check(same and diff, "synthetic: same seed same bytes, other seed other bytes")
r = run("prepare", "synthetic", "--out", os.path.join(d, "x"), "--size", "96by72")
C.check(r.returncode == 2 and "--size" in r.stderr, f"bad --size: {r.stderr.strip()}")
r = run("prepare", "cifar", "--out", d)
C.check(r.returncode == 2, f"unknown dataset: exit {r.returncode}")

# bench-data
r = run("bench-data", "--data_dir", os.path.join(d, "syn0"), "--workers", 2, "--image_size", 32, "--per_batch_size", 4,
        "--batches", 4, "--json")
try:
    j = json.loads(r.stdout)
except ValueError:
    j = {}
C.check(r.returncode == 0 and j.get("img_s", 0) > 0 and j.get("images") == 16, f"bench-data --json: {r.stdout} {r.stderr}")
r = run("bench-data", "--data_dir", os.path.join(d, "nowhere"))
C.check(r.returncode == 2 and "nowhere" in r.stderr, f"bench-data on a missing folder: {r.stderr.strip()}")
C.done()
