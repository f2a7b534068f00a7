"""cli_common.py — what the tests of the alexnet program share (cli/, dist/):
running it, a small learnable image dataset, comparing checkpoints, waiting
for a run's progress. set_binary() first: run() runs that program."""
import json
import os
import subprocess
import time

import numpy as np
from PIL import Image

import st_write

BIN = None


def set_binary(path):
    global BIN
    BIN = os.path.abspath(path)
    return BIN


def run(args, timeout=600, **kw):
    """BIN args -> (exit status, stdout, stderr)."""
    p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout, **kw)
    return p.returncode, p.stdout, p.stderr


def make_dataset(root, classes=3, per_class=16, size=(48, 40), seed=0):
    """Class c has a bright channel c and a class-dependent stripe: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = os.path.join(root, f"class_{c}")
        os.makedirs(d, exist_ok=True)
        for i in range(per_class):
            a = (rng.random((size[1], size[0], 3)) * 80).astype(np.uint8)
            a[:, :, c % 3] += 120
            a[(c * 7) % size[1]:(c * 7) % size[1] + 6, :, :] = 255
            Image.fromarray(a).save(os.path.join(d, f"img_{i:03d}.jpg"), quality=92)


def tensors_equal(a, b):
    """Two safetensors files hold the same tensors, bit for bit."""
    ta, _ = st_write.load(a)
    tb, _ = st_write.load(b)
    if ta.keys() != tb.keys():
        return False
    return all(ta[k].shape == tb[k].shape and bool((ta[k] == tb[k]).all()) for k in ta)


def wait_for_step(metrics, step, proc, timeout=300):
    """True once metrics.jsonl records step (or later) while proc runs."""
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        try:
            with open(metrics) as f:
                lines = [json.loads(x) for x in f if x.strip()]
            if lines and lines[-1]["step"] >= step:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return False
