"""Choosing the pack's default storage size: for each candidate (shorter side
256, longer side 320/384/512 at JPEG q90, and raw RGB at shorter side 256)
packs the same folder and measures
 - disk: KB an image, GB per million images;
 - speed: `alexnet bench-data` img/s from the pack (seed train transforms:
   RandomResizedCrop 224, flip, ColorJitter, Normalize), against the folder,
   interleaved in one run (WORKERS workers);
 - eval fidelity: the seed's eval input (Resize((256, 256)), CenterCrop(224),
   PIL) from the stored image vs from the source file: mean |diff| in levels
   (of 255) and PSNR;
 - train fidelity: how often a RandomResizedCrop(224, scale 0.08-1) box on
   the stored image spans fewer than 224 pixels on a side (upsampled; detail
   the source would have had) vs on the source.

usage: pack_modes.py ALEXNET FOLDER [WORKERS=1] [ROUNDS=2]
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
import io

alexnet, folder = sys.argv[1], sys.argv[2]
workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 2
MODES = [("short 256 q90", ["--short_side", "256"]), ("max 320 q90", ["--max_side", "320"]),
         ("max 384 q90", ["--max_side", "384"]), ("max 512 q90", ["--max_side", "512"]),
         ("short 256 raw", ["--short_side", "256", "--raw"])]


def records(path):
    """(name, width, height, stored bytes, raw?) of each record, read with the format of src/data/pack.h."""
    b = open(path, "rb").read()
    mode, = struct.unpack_from("<I", b, 16)
    n, = struct.unpack_from("<Q", b, 40)
    noff, nlen, ioff = struct.unpack_from("<QQQ", b, 72)
    names = b[noff:noff + nlen].split(b"\0")[:n]
    for i in range(n):
        off, size, label, w, h, crc, _ = struct.unpack_from("<QIIIIII", b, ioff + 32 * i)
        yield names[i].decode(), w, h, b[off:off + size], mode == 2


def eval_input(img):
    img = img.convert("RGB").resize((256, 256), Image.BILINEAR)
    return np.asarray(img.crop((16, 16, 240, 240)), np.int16)


def bench(data):
    r = subprocess.run([alexnet, "bench-data", "--data_dir", data, "--workers", str(workers), "--json"],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["img_s"]


def upsample_fraction(sizes, trials=20000, seed=0):
    """Fraction of RandomResizedCrop boxes (torchvision's draw) narrower than 224 on a side."""
    rng = np.random.default_rng(seed)
    small = total = 0
    for w, h in sizes:
        area = w * h
        for _ in range(trials // len(sizes)):
            for _ in range(10):
                a = area * rng.uniform(0.08, 1.0)
                r = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
                cw, ch = int(round(math.sqrt(a * r))), int(round(math.sqrt(a / r)))
                if 0 < cw <= w and 0 < ch <= h:
                    break
            else:
                cw = ch = min(w, h)
            total += 1
            small += min(cw, ch) < 224
    return small / total


tmp = tempfile.mkdtemp(prefix="pack_modes_")
src_sizes = []
rows = []
for label, args in MODES:
    pack = os.path.join(tmp, label.replace(" ", "_") + ".pack")
    subprocess.run([alexnet, "prepare", "pack", "--data_dir", folder, "--out", pack, "--quiet"] + args,
                   check=True, capture_output=True)
    diffs, mses, sizes, nbytes, count = [], [], [], 0, 0
    for name, w, h, data, raw in records(pack):
        stored = Image.frombytes("RGB", (w, h), data) if raw else Image.open(io.BytesIO(data))
        src = Image.open(os.path.join(folder, name))
        if len(src_sizes) < 200 and label == MODES[0][0]:
            src_sizes.append(src.size)
        a, b = eval_input(stored), eval_input(src)
        diffs.append(np.abs(a - b).mean())
        mses.append(((a - b) ** 2).mean())
        sizes.append((w, h))
        nbytes += len(data)
        count += 1
    psnr = 10 * math.log10(255 ** 2 / max(np.mean(mses), 1e-9))
    rows.append(dict(mode=label, kb=nbytes / count / 1e3, gb_per_m=nbytes / count * 1e6 / 1e9,
                     eval_mad=float(np.mean(diffs)), psnr=psnr, up=upsample_fraction(sizes[:200]), pack=pack))
speeds = {r["mode"]: [] for r in rows}
speeds["folder"] = []
for _ in range(rounds):
    speeds["folder"].append(bench(folder))
    for r in rows:
        speeds[r["mode"]].append(bench(r["pack"]))
fold = float(np.median(speeds["folder"]))
src_kb = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(folder) for f in fs) / count / 1e3
print(f"{count} images of {folder}, bench-data with {workers} worker(s), median of {rounds} interleaved rounds")
print(f"| storage | KB/image | GB per 10^6 images | bench-data img/s | vs folder | eval mean abs diff (levels) | eval PSNR dB | train crops < 224 px |")
print("|---|---|---|---|---|---|---|---|")
print(f"| folder (source JPEGs) | {src_kb:.1f} | {src_kb:.0f} | {fold:.0f} | 1.00x | 0 | inf | {upsample_fraction(src_sizes):.1%} |")
for r in rows:
    s = float(np.median(speeds[r["mode"]]))
    print(f"| {r['mode']} | {r['kb']:.1f} | {r['gb_per_m']:.0f} | {s:.0f} | {s / fold:.2f}x | {r['eval_mad']:.2f} | "
          f"{r['psnr']:.1f} | {r['up']:.1%} |")
for r in rows:
    os.remove(r["pack"])
os.rmdir(tmp)
