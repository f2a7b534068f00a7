"""data_common.py — helpers shared by the image-pipeline tests (data/*.py, cli/onnx_test.py).

They drive data_tool (tests/tools/data_tool.c; its path in argv[1]) and
compare what it writes with PIL / torchvision; their checks go through
check.py's Checker.
"""
import atexit
import shutil
import struct
import subprocess
import tempfile
import zlib

import numpy as np
from PIL import Image


def tool(exe, *args, check=True):
    r = subprocess.run([exe] + [str(a) for a in args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"data_tool {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
    return r


def photo(w, h, seed, mode="RGB"):
    """A photo-like test image: smooth gradients, blobs, texture and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, p = rng.uniform(-1, 1, 3)
        img[..., c] = 128 + 60 * np.sin(a * x / 17 + p) * np.cos(b * y / 13) + rng.uniform(-40, 40)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.3) * min(w, h)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[mask] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 10, img.shape)
    arr = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    return im.convert(mode) if mode != "RGB" else im


def read_raw(path, shape, dtype=np.uint8):
    return np.fromfile(path, dtype=dtype).reshape(shape)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_raw(path, w, h, bit_depth, color_type, rows, interlace=0):
    """A PNG from already-packed rows (bytes per row), filter 0. With
    interlace=1, `rows` is a function (pass_x0, pass_y0, dx, dy) -> list of
    packed rows for that Adam7 pass."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, interlace)
    if interlace:
        raw = b""
        for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
            for r in rows(x0, y0, dx, dy):
                raw += b"\x00" + r
    else:
        raw = b"".join(b"\x00" + r for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def tmpdir(prefix):
    """A scratch folder removed when the script exits."""
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    return d
