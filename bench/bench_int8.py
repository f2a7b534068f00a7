"""int8 side-by-side CPU inference benchmark (issue 28), one invocation on the same cores: our fp32, bf16 and int8
inference (`alexnet bench`) and ONNX Runtime's fp32 and int8 on the same model, at 224 px, batch 64 and batch 1.

The model is torchvision's AlexNet (1000 classes) with PyTorch's default initialisation (seed 0): the timing does
not depend on the weights' values. Both int8 models come from the same fp32 weights and the same calibration
images (N synthetic 256x256 JPEGs through the eval transform) with the same method (min/max): ours by
`alexnet quantize --method minmax`, ONNX Runtime's by its own `quantize_static` (QDQ, u8 activations, s8
per-channel weights) on our `alexnet export` of the fp32 model. Runs alternate in rounds so other load on the shared
machine hits all alike; each keeps its best round's median img/s. Ratios printed: ours int8 / ours bf16, ours int8 /
ONNX Runtime int8, and batch 1's latency ours int8 vs ONNX Runtime int8.

usage: python3 bench/bench_int8.py [--alexnet build/alexnet] [--venv DIR] [--threads 2] [--rounds 2]
                                   [--calib 64] [--work DIR] [--json FILE]
  --venv: a virtualenv with onnxruntime and onnx from PyPI (made there on first use; default build/ort-venv)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import st_write  # noqa: E402
from pypi_venv import pypi_python  # noqa: E402

MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def run(cmd, what):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench_int8: {what} failed ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stderr[-2000:]}")
    return r.stdout


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def prepare(a, work):
    fp32 = os.path.join(work, "alexnet_fp32.safetensors")
    if not os.path.exists(fp32):
        torch.manual_seed(0)
        st_write.save(fp32, torchvision.models.alexnet(num_classes=1000).state_dict())
    calib_dir = os.path.join(work, "calib")
    calib_npy = os.path.join(work, "calib.npy")
    if not os.path.exists(calib_npy):
        rng = np.random.default_rng(1)
        os.makedirs(os.path.join(calib_dir, "c0"), exist_ok=True)
        yy, xx = np.mgrid[0:256, 0:256] / 256.0
        tensors = []
        for i in range(a.calib):
            f = rng.uniform(1, 8, 3)
            img = np.stack([np.sin(2 * np.pi * (f[c] * xx + rng.uniform() * yy) + c) for c in range(3)], -1)
            img = np.clip(127.5 + 90 * img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
            path = os.path.join(calib_dir, "c0", f"img_{i:03d}.jpg")
            Image.fromarray(img).save(path, quality=92)
            x = np.asarray(Image.open(path).convert("RGB"), np.float32)[16:240, 16:240] / 255.0
            tensors.append(((x - MEAN) / STD).transpose(2, 0, 1))
        np.save(calib_npy, np.stack(tensors).astype(np.float32))
    q = os.path.join(work, "alexnet_int8.safetensors")
    if not os.path.exists(q):
        run([a.alexnet, "quantize", "--pretrained", fp32, "--calib_dir", calib_dir, "--calib_images", a.calib,
             "--method", "minmax", "--image_size", 224, "--out", q, "--threads", a.threads], "alexnet quantize")
    onnx32 = os.path.join(work, "alexnet_fp32.onnx")
    if not os.path.exists(onnx32):
        run([a.alexnet, "export", "--pretrained", fp32, "--out", onnx32, "--dynamic_batch", "--image_size", 224],
            "alexnet export")
    onnx8 = os.path.join(work, "alexnet_int8_ort.onnx")
    if not os.path.exists(onnx8):
        run([a.py, os.path.join(HERE, "ort_int8.py"), "quantize", onnx32, onnx8, calib_npy], "ORT quantize_static")
    return fp32, q, onnx32, onnx8


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--alexnet", default=os.path.join(HERE, "..", "build", "alexnet"))
    p.add_argument("--venv", default=os.path.join(HERE, "..", "build", "ort-venv"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--calib", type=int, default=64)
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "alexnet-int8-bench"))
    p.add_argument("--json", default="")
    a = p.parse_args()
    a.py, why = pypi_python(a.venv, "onnxruntime onnx", "onnxruntime.quantization, onnx")
    if not a.py:
        sys.exit(f"bench_int8: {why}")
    os.makedirs(a.work, exist_ok=True)
    fp32, q, onnx32, onnx8 = prepare(a, a.work)

    def ours(model, precision, batch, steps):
        return last_json(run([a.alexnet, "bench", "--pretrained", model, "--precision", precision, "--inference_only",
                              "--image_size", 224, "--per_batch_size", batch, "--threads", a.threads, "--steps", steps,
                              "--profile_steps", 0, "--json"], f"alexnet bench {precision} b{batch}"))

    def onnxrt(model, batch, steps):
        return last_json(run([a.py, os.path.join(HERE, "ort_int8.py"), "time", model, batch, a.threads, steps],
                             f"ORT b{batch}"))

    bf16_ok = subprocess.run([a.alexnet, "bench", "--precision", "bf16", "--inference_only", "--image_size", "64",
                              "--per_batch_size", "1", "--steps", "1", "--profile_steps", "0", "--json"],
                             capture_output=True).returncode == 0
    sides = [("ours fp32", lambda b, s: ours(fp32, "fp32", b, s))]
    if bf16_ok:
        sides.append(("ours bf16", lambda b, s: ours(fp32, "bf16", b, s)))
    sides += [("ours int8", lambda b, s: ours(q, "int8", b, s)), ("ORT fp32", lambda b, s: onnxrt(onnx32, b, s)),
              ("ORT int8", lambda b, s: onnxrt(onnx8, b, s))]
    load = os.getloadavg()[0]
    results = {}
    for batch, steps in ((64, 5), (1, 40)):
        best = {}
        for r in range(a.rounds):
            for name, fn in sides:
                v = fn(batch, steps)["infer_img_s"]
                best[name] = max(best.get(name, 0.0), v)
        results[batch] = best
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"int8 inference, AlexNet 224 px, 1000 classes, {a.threads} threads, best of {a.rounds} rounds "
          f"(load {load:.2f} at start), {cpu}")
    print(f"{'':12s} {'batch 64 img/s':>15s} {'batch 1 img/s':>14s} {'batch 1 ms':>11s}")
    for name, _ in sides:
        print(f"{name:12s} {results[64][name]:15.1f} {results[1][name]:14.1f} {1e3 / results[1][name]:11.2f}")
    r64, r1 = results[64], results[1]
    ratios = {"int8/fp32 (ours, b64)": r64["ours int8"] / r64["ours fp32"],
              "int8 ours/ORT (b64)": r64["ours int8"] / r64["ORT int8"],
              "int8 ours/ORT (b1)": r1["ours int8"] / r1["ORT int8"]}
    if bf16_ok:
        ratios["int8/bf16 (ours, b64)"] = r64["ours int8"] / r64["ours bf16"]
    for k, v in ratios.items():
        print(f"{k:24s} {v:.2f}x")
    print(f"batch 1 latency: ours int8 {1e3 / r1['ours int8']:.2f} ms, ORT int8 {1e3 / r1['ORT int8']:.2f} ms")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": {str(k): v for k, v in results.items()}, "ratios": ratios, "cpu": cpu,
                       "threads": a.threads, "rounds": a.rounds}, f, indent=1)


if __name__ == "__main__":
    main()
