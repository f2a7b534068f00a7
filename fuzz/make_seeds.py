#!/usr/bin/python3
"""make_seeds.py — writes the seed corpora of the fuzz targets (fuzz/corpus/).

Small versions of the files the tests and the program make: JPEGs and PNGs
as PIL writes them (baseline, progressive, 4:4:4, grayscale, CMYK; RGB, RGBA,
palette with transparency, 16-bit and 1-bit gray, Adam7-interlaced), model
and training-state safetensors with our metadata and a torchvision-style one,
gzipped and plain IDX files, and command lines for each command.

usage: make_seeds.py OUT_DIR     (writes OUT_DIR/<target>/<seed>)
"""
import gzip
import io
import json
import os
import struct
import sys
import zlib

from PIL import Image

out = sys.argv[1]


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def photo(w, h, mode="RGB"):
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 37) % 256, (y * 53) % 256, ((x + y) * 11) % 256) for y in range(h) for x in range(w)])
    return img.convert(mode)


def saved(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def interlaced_png(w, h):
    """An Adam7 RGB PNG (PIL writes none): each pass's rows, filter 0."""
    px = photo(w, h).load()
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        for y in range(y0, h, dy):
            row = b"".join(bytes(px[x, y]) for x in range(x0, w, dx))
            if row:
                raw += b"\x00" + row
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")


images = {
    "baseline.jpg": saved(photo(40, 30), "JPEG", quality=90),
    "progressive.jpg": saved(photo(40, 30), "JPEG", quality=80, progressive=True),
    "444.jpg": saved(photo(24, 17), "JPEG", quality=95, subsampling=0),
    "gray.jpg": saved(photo(20, 20, "L"), "JPEG", quality=90),
    "cmyk.jpg": saved(photo(16, 16, "CMYK"), "JPEG", quality=90),
    "rgb.png": saved(photo(20, 15), "PNG"),
    "rgba.png": saved(photo(12, 12, "RGBA"), "PNG"),
    "palette.png": saved(photo(16, 8).convert("P"), "PNG", transparency=3),
    "gray16.png": saved(photo(9, 9, "L").convert("I;16"), "PNG"),
    "gray1.png": saved(photo(17, 5, "1"), "PNG"),
    "interlaced.png": interlaced_png(11, 9),
}
for name, data in images.items():
    for mode in range(5):
        put("image", f"{mode}-{name}", bytes([mode, 0x26 + mode, 3, 5, 70, 9, 120, 200]) + data)


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] -> file bytes (like tests/lib/st_write.py)."""
    header, blob = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js + blob


NAMES = [("features.0", 4), ("features.3", 4), ("features.6", 4), ("features.8", 4), ("features.10", 4),
         ("classifier.1", 2), ("classifier.4", 2), ("classifier.6", 2)]


def model_tensors(prefix="", dtype="F32", size=4):
    t = []
    for name, nd in NAMES:
        shape = [3, 2, 1, 1][:nd] if name != "classifier.6" else [3, 2]
        n = 1
        for s in shape:
            n *= s
        t.append((prefix + name + ".weight", dtype, shape, bytes(range(n * size))))
        t.append((prefix + name + ".bias", dtype, [shape[0]], bytes(shape[0] * size)))
    return t


meta = {"format": "pt", "backbone": "alexnet", "num_classes": "3", "classes": json.dumps(["a", "b", "c"]),
        "image_size": "64", "epoch": "2", "step": "40", "version": "alexnet.c 0.1.0"}
put("safetensors", "ours.safetensors", safetensors(model_tensors(), meta))
put("safetensors", "torchvision_f16.safetensors", safetensors(model_tensors(dtype="F16", size=2)))
put("safetensors", "bf16_2012.safetensors",
    safetensors(model_tensors(dtype="BF16", size=2), dict(meta, backbone="alexnet_2012")))
put("safetensors", "dtypes.safetensors", safetensors(
    [("a", "F64", [2], bytes(16)), ("b", "I64", [1], bytes(8)), ("c", "I32", [2, 1], bytes(8)),
     ("d", "U8", [3], b"abc"), ("e", "F32", [], bytes(4)), ("classifier.6.weight", "F32", [1, 0], b"")]))
put("safetensors", "empty.safetensors", safetensors([]))
int8 = [(n, "I8" if n.endswith(".weight") else d, s, b[:len(b) // 4] if n.endswith(".weight") else b)
        for n, d, s, b in model_tensors()]
for name, nd in NAMES:
    oc = 3
    int8 += [(name + ".weight_scale", "F32", [oc], struct.pack("<3f", 0.5, 1.0, 2.0)),
             (name + ".input_scale", "F32", [1], struct.pack("<f", 0.25)), (name + ".input_zero_point", "U8", [1], b"\x07")]
put("safetensors", "int8.safetensors", safetensors(int8, dict(meta, quantization="int8 static", quant_method="minmax",
                                                                 calib_images="8")))

config = {"data_dir": "data/train", "val_dir": "data/val", "per_batch_size": 8, "eval_batch_size": 0,
          "image_size": 64, "workers": 2, "color_jitter": 1, "strict_data": 0, "min_crop_scale": 0.08,
          "max_image_pixels": "100000000", "backbone": "alexnet", "pretrained": "", "dropout": -1,
          "lr_scheduler": "cosine_annealing", "lr_epochs": "30,60,90,120", "lr": 0.01, "momentum": 0.9,
          "weight_decay": 0.0001, "eta_min": 0, "lr_gamma": 0.1, "warmup_epochs": 1, "T_max": 150, "max_epoch": 3,
          "label_smooth": 1, "label_smooth_factor": 0.1, "smoothing_form": "seed", "seed": "7", "threads": 2,
          "device": "cpu", "backend": "", "precision": "auto", "is_distributed": -1, "out_dir": "runs/x",
          "ckpt_interval": 0, "save_every_steps": "0", "log_interval": 1, "max_steps": "0"}
state_meta = {"epoch": "1", "batch": "3", "step": "9", "best_top1": "0.5", "config": json.dumps(config, indent=2),
              "version": "alexnet.c 0.1.0"}
state = safetensors(model_tensors("model.") + model_tensors("momentum."), state_meta)
put("state", "train_state.safetensors", state)
put("state", "fresh_state.safetensors", safetensors([], dict(state_meta, best_top1="-1", batch="0")))
put("safetensors", "train_state.safetensors", state)
# the current form: numbers as numbers, and the run record (fingerprint, running sums)
typed = {k: (int(v) if isinstance(v, str) and v.isdigit() else v) for k, v in config.items() if k != "eval_batch_size"}
typed.update(T_max=3, save_best=1, data_dir="/data/train", val_dir="/data/val")
run_record = {"fingerprint": {"world_size": 2, "global_batch": 16, "train_images": 48,
                              "train_files_hash": "0123456789abcdef", "num_classes": 3,
                              "classes_hash": "fedcba9876543210", "val_images": -1,
                              "val_files_hash": "0000000000000000", "param_count": 57016131, "backbone": "alexnet"},
              "epoch_sums": {"loss": 3.3, "steps": 3, "correct": 10, "seen": 48, "seconds": 1.5},
              "window_sums": {"loss": 1.1, "steps": 1, "correct": 4, "seen": 16, "seconds": 0.5}}
put("state", "train_state_run.safetensors",
    safetensors(model_tensors("model.") + model_tensors("momentum."),
                dict(state_meta, config=json.dumps(typed), run=json.dumps(run_record))))


def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


images_idx = idx([2, 3, 4], bytes(range(24)))
labels_idx = idx([2], bytes([1, 9]))
put("idx", "images.gz", b"\x02" + gzip.compress(images_idx, mtime=0))
put("idx", "labels.gz", b"\x00" + gzip.compress(labels_idx, mtime=0))
put("idx", "images_plain", b"\x02" + images_idx)
put("idx", "rank4", b"\x03" + idx([1, 2, 1, 2], bytes(4)))

def pack(records, classes, raw=False):
    """A pack file (src/data/pack.h) of (name, label, w, h, bytes) records."""
    cls = b"".join(c.encode() + b"\0" for c in classes)
    names = b"".join(r[0].encode() + b"\0" for r in records)
    ioff = 4096 + len(cls) + len(names)
    doff = ioff + 32 * len(records)
    index, data = b"", b""
    for name, label, w, h, b in records:
        index += struct.pack("<QIIIIII", doff + len(data), len(b), label, w, h, zlib.crc32(b), 0)
        data += b
    meta = zlib.crc32(names, zlib.crc32(cls))
    meta = zlib.crc32(index, meta)
    info = json.dumps({"source": "seed", "mode": "raw" if raw else "jpeg"}).encode()
    hdr = bytearray(4096)
    hdr[0:8] = b"ALEXPACK"
    struct.pack_into("<IIIIIII", hdr, 8, 1, 4096, 2 if raw else 1, 0 if raw else 90, 0, 256, len(classes))
    struct.pack_into("<QQQQQQQQQIi", hdr, 40, len(records), 0, 4096, len(cls), 4096 + len(cls), len(names), ioff,
                     doff, doff + len(data), meta, len(info))
    hdr[120:120 + len(info)] = info
    struct.pack_into("<I", hdr, 4092, zlib.crc32(bytes(hdr[:4092])))
    return bytes(hdr) + cls + names + index + data


small = photo(20, 14)
packed = pack([("a/x.jpg", 0, 20, 14, saved(small, "JPEG", quality=90)),
               ("b/y.png", 1, 20, 14, saved(small, "PNG")),
               ("b/z.jpg", 1, 9, 11, saved(photo(9, 11, "L"), "JPEG", quality=75))], ["a", "b"])
put("pack", "jpeg", b"\x07" + packed)
put("pack", "jpeg_nofix", b"\x00" + packed)
put("pack", "truncated", b"\x07" + packed[:-30])
put("pack", "raw", b"\x07" + pack([("c/r.jpg", 0, 6, 5, bytes(range(90))), ("d/s.png", 1, 3, 2, bytes(18))],
                                   ["c", "d"], raw=True))

ARGS = {
    "table": (0, ["--count", "5", "--big=123", "--rate", "-0.5", "--name", "x", "--json", "pos1", "--", "-"]),
    "table_help": (0, ["--hidden=3", "-h", "--any-int", "-7"]),
    "table_text": (0, ["--seed", "42", "--word", "abcdefg", "--word=x", "--seed", "-1", "--word", "abcdefgh"]),
    "train": (1, ["--data_dir", "d/train", "--val_dir=d/val", "--per_batch_size", "8", "--image_size", "64",
                  "--lr", "0.01", "--warmup_epochs", "0.5", "--max_steps", "10", "--seed", "9223372036854775807",
                  "--strict_data", "--backbone", "alexnet_2012"]),
    "eval": (3, ["--data_dir", "v", "--pretrained", "m.safetensors", "--json", "--max_image_pixels", "1000"]),
    "predict": (5, ["--pretrained", "m.safetensors", "a.jpg", "b.png", "--image-size", "128"]),
    "bench": (7, ["--num_classes", "10", "--steps", "3"]),
    "bench_data": (9, ["--data_dir", "x", "--workers", "2"]),
    "prepare_fmnist": (11, ["--out", "o", "--source=/usr/share/fashion-mnist"]),
    "prepare_synthetic": (13, ["--out", "o", "--classes", "4", "--size", "32x24"]),
    "quantize": (15, ["--pretrained", "m.safetensors", "--calib_dir", "c", "--out", "q.safetensors", "--method",
                      "entropy", "--calib_images", "64", "--fp32_layers", "first,last", "--percentile", "99.9"]),
}
for name, (sel, args) in ARGS.items():
    put("args", name, bytes([sel]) + b"\0".join(a.encode() for a in args))
