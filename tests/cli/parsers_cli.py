#!/usr/bin/python3
"""parsers_cli.py — regression tests of issue 12's parser items, through the
program: hostile checkpoints, images and IDX files each end in one clear line
naming the file, exit status 2, within a time bound, never a crash.

usage: parsers_cli.py ALEXNET_BINARY

Checkpoints (eval and predict): __metadata__ twice (was a heap overrun), a
folder as --pretrained (was "out of memory allocating 2^63 bytes"), a header
of 300,000 tiny entries (the duplicate check was quadratic), a [1e8, 0]
classifier (built a 100 M-class net before any check), shape products past
2^50, offsets outside the data, a header size of 2^64-1, a duplicate tensor
or metadata key, out-of-range metadata numbers. Images (predict): a 60-byte
PNG header of 1,300,000,000 x 1 pixels under --max_image_pixels 1e12 (the
resampler's int overflow), a side over 65535, a progressive 4:4:4 JPEG whose
coefficients need more than the decoder's memory. IDX (prepare fashion-mnist):
a 30-byte file declaring 4 GB. A FIFO in place of any of these files is
refused instead of waiting forever for a writer.
"""
import atexit
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import Checker

BIN = sys.argv[1]
C = Checker("parsers_cli")
check = C.check
tmp = tempfile.mkdtemp(prefix="alexnet_parsers_")
atexit.register(shutil.rmtree, tmp, True)


def run(args, timeout=60):
    t0 = time.time()
    try:
        p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "", f"(timed out after {timeout} s)", time.time() - t0
    return p.returncode, p.stdout, p.stderr, time.time() - t0


def put(name, data):
    p = os.path.join(tmp, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def header_file(header, data=b"", hlen=None):
    js = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(js) if hlen is None else hlen) + js + data


def clear_error(rc, se, path, words):
    lines = [l for l in se.splitlines() if l.strip()]
    return (rc == 2 and path in se and any(w in se for w in words) and len(lines) <= 3
            and "fatal" not in se and "Sanitizer" not in se and "runtime error" not in se)


# --- a folder of one image for eval/predict
val = os.path.join(tmp, "val", "a")
os.makedirs(val)
img = os.path.join(val, "x.jpg")
Image.new("RGB", (40, 30), (90, 120, 200)).save(img)


def reject(name, content, words, cmd="eval", bound=30):
    p = content if isinstance(content, str) else put(name, content)
    args = (["eval", "--data_dir", os.path.dirname(val), "--pretrained", p] if cmd == "eval"
            else ["predict", "--pretrained", p, img])
    rc, so, se, secs = run(args)
    check(clear_error(rc, se, p, words) and secs < bound,
          f"{cmd} {name}: rejected clearly in {secs:.1f} s (rc {rc}): {se.strip()[:300]}")


meta = {"backbone": "alexnet", "image_size": "64"}
empty = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
# __metadata__ twice: hand-written JSON (a dict can't hold a key twice)
twice = (b'{"__metadata__":{"a":"1"},"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},'
         b'"__metadata__":{"b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9"}}')
for cmd in ("eval", "predict"):
    reject("metadata_twice.safetensors", header_file(twice), ["__metadata__ appears twice"], cmd)
    reject("a_folder", os.path.join(tmp, "val"), ["is a directory"], cmd)
fifo = os.path.join(tmp, "fifo.safetensors")  # opening one used to wait for a writer forever
os.mkfifo(fifo)
reject("a_fifo", fifo, ["not a regular file"], "predict", bound=20)
reject("meta_key_twice.safetensors", header_file(b'{"__metadata__":{"a":"1","a":"2"}}'), ["'a' appears twice"])
reject("tensor_twice.safetensors", header_file(b'{"t":' + json.dumps(empty).encode() + b',"t":' +
                                               json.dumps(empty).encode() + b'}'), ["'t' appears twice"])

# 300,000 tiny entries: loads (then isn't an AlexNet) in bounded time; the
# same with one duplicate at the end is refused, also in bounded time.
many = {f"t{i:06d}": empty for i in range(300000)}
reject("many_entries.safetensors", header_file(many), ["not an AlexNet checkpoint"], bound=20)
dup = json.dumps(many, separators=(",", ":")).encode()[:-1] + b',"t000000":' + json.dumps(empty).encode() + b"}"
reject("many_entries_dup.safetensors", header_file(dup), ["'t000000' appears twice"], bound=20)

# class counts and shapes
for cmd in ("eval", "predict"):
    reject("classes_1e8.safetensors", header_file({"__metadata__": meta, "classifier.6.weight":
                                                   {"dtype": "F32", "shape": [100000000, 0], "data_offsets": [0, 0]}}),
           ["classifier.6.weight has shape 100000000x0", "1 to 1000000 classes"], cmd)
reject("classes_0.safetensors", header_file({"classifier.6.weight": {"dtype": "F32", "shape": [0, 4096],
                                                                    "data_offsets": [0, 0]}}), ["shape 0x4096"])
reject("classes_2e32.safetensors", header_file({"classifier.6.weight": {"dtype": "F32", "shape": [4294967299, 0],
                                                                       "data_offsets": [0, 0]}}), ["4294967299x0"])
reject("product.safetensors", header_file({"t": {"dtype": "F32", "shape": [1e15, 1e15, 0], "data_offsets": [0, 0]}}),
       ["impossibly large"])
reject("offsets_out.safetensors", header_file({"t": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, b"abcd"),
       ["outside the 4 data bytes"])
reject("offsets_float.safetensors", header_file({"t": {"dtype": "U8", "shape": [1], "data_offsets": [0.5, 1.5]}}, b"ab"),
       ["outside"])
reject("offsets_string.safetensors", header_file({"t": {"dtype": "U8", "shape": [1], "data_offsets": ["0", "1"]}}, b"a"),
       ["outside"])
reject("header_2e64.safetensors", header_file({}, hlen=2 ** 64 - 1), ["not a safetensors file"])
reject("header_over_cap.safetensors", header_file({}, hlen=(100 << 20) + 1) + bytes(8), ["not a safetensors file"])
head = {"classifier.6.weight": {"dtype": "F32", "shape": [3, 1], "data_offsets": [0, 12]}}
for key, value in (("image_size", "99999999999"), ("image_size", "64px"), ("epoch", "-5"), ("step", "1e3")):
    reject(f"meta_{key}_{value}.safetensors", header_file(dict(head, __metadata__={key: value}), bytes(12)),
           [f"metadata {key} '{value}'"])
reject("backbone.safetensors", header_file(dict(head, __metadata__={"backbone": "resnet"}), bytes(12)),
       ["unknown backbone 'resnet'"])


# --- images (predict's single-image path; every bad file is named, exit 2)
def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_header(w, h):
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))


def predict_image(name, data, words, limit="1000000000000"):
    p = put(name, data)
    model = os.path.join(tmp, "model.safetensors")
    if not os.path.exists(model):  # a real (untrained) model: predict must get as far as the image
        rc, so, se, _ = run(["bench", "--help"])  # the binary works at all
        import torch, torchvision
        import st_write
        st_write.save(model, torchvision.models.alexnet(num_classes=3).state_dict(), {"image_size": "64"})
    rc, so, se, secs = run(["predict", "--pretrained", model, "--max_image_pixels", limit, p])
    # exit 1: no image could be predicted (docs/COMMANDS.md, predict)
    ok = rc == 1 and p in se and any(w in se for w in words) and "fatal" not in se and "Sanitizer" not in se
    check(ok and secs < 60, f"predict {name}: clear error in {secs:.1f} s (rc {rc}): {se.strip()[:300]}")


idat = png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))  # libpng reads the header up to the first IDAT
png_60 = png_header(1300000000, 1) + idat
check(len(png_60) <= 60, f"the PNG is tiny ({len(png_60)} bytes)")
predict_image("wide.png", png_60, ["each side may be at most 65535"])
predict_image("tall.png", png_header(1, 70000) + idat, ["each side may be at most 65535"])
# A whole valid 65535 x 1 PNG: the widest image allowed decodes and resamples.
row = b"\x00" + bytes(range(256)) * 767 + bytes(65535 * 3 - 256 * 767)
wide_ok = png_header(65535, 1) + png_chunk(b"IDAT", zlib.compress(row)) + png_chunk(b"IEND", b"")
p = put("widest.png", wide_ok)
model = os.path.join(tmp, "model.safetensors")
rc, so, se, secs = run(["predict", "--pretrained", model, p])
check(rc == 0 and "class" in so, f"predict of a valid 65535x1 PNG works (rc {rc}): {se.strip()[:300]}")


fifo_img = os.path.join(tmp, "fifo.jpg")
os.mkfifo(fifo_img)
model = os.path.join(tmp, "model.safetensors")
rc, so, se, secs = run(["predict", "--pretrained", model, fifo_img], timeout=30)
check(rc == 1 and fifo_img in se and "not a regular file" in se, f"predict of a FIFO: no hang (rc {rc}): {se.strip()[:200]}")


def progressive(subsampling):
    b = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(b, "JPEG", progressive=True, subsampling=subsampling, quality=90)
    data = b.getvalue()
    i = data.index(b"\xff\xc2")  # SOF2: length(2) precision(1) height(2) width(2)
    return data[:i + 5] + struct.pack(">HH", 9000, 9000) + data[i + 9:]


predict_image("progressive_444.jpg", progressive(0), ["progressive JPEG of 9000x9000", "coefficients"], limit="100000000")

# --- IDX: a 30-byte gzip declaring 256 x 4096 x 4096 bytes (4 GB)
src = os.path.join(tmp, "idx")
os.makedirs(src)
with open(os.path.join(src, "train-images-idx3-ubyte.gz"), "wb") as f:
    f.write(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 256, 4096, 4096) + bytes(100)))
with open(os.path.join(src, "train-labels-idx1-ubyte.gz"), "wb") as f:
    f.write(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 256) + bytes(256)))
t0 = time.time()
p = subprocess.run(["/bin/sh", "-c", f'ulimit -v 1500000 2>/dev/null; exec "$0" "$@"', BIN, "prepare", "fashion-mnist",
                    "--source", src, "--out", os.path.join(tmp, "out")]
                   if not os.environ.get("ALEXNET_ASAN") else
                   [BIN, "prepare", "fashion-mnist", "--source", src, "--out", os.path.join(tmp, "out")],
                   capture_output=True, text=True, timeout=120)
check(p.returncode == 2 and "train-images-idx3-ubyte.gz" in p.stderr and "ends early" in p.stderr,
      f"IDX declaring 4 GB: clear error under a 1.5 GB address-space limit (rc {p.returncode}): {p.stderr.strip()[:300]}")
os.remove(os.path.join(src, "train-images-idx3-ubyte.gz"))
os.mkfifo(os.path.join(src, "train-images-idx3-ubyte.gz"))
rc, so, se, secs = run(["prepare", "fashion-mnist", "--source", src, "--out", os.path.join(tmp, "out")], timeout=30)
check(rc == 2 and "not a regular file" in se, f"IDX FIFO: no hang (rc {rc}): {se.strip()[:200]}")

C.done()
