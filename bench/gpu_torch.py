#!/usr/bin/env python3
"""gpu_torch.py — the PyTorch side of bench/gpu.sh: torchvision AlexNet on the
same GPU, synthetic data resident on the GPU, momentum SGD with weight decay
and label smoothing 0.1, timed with CUDA events (warm-up first). The same
method as bench/anchors/torch_gpu_anchor.py, which measured the issue's
targets on an H200.

usage: gpu_torch.py [--batch 256] [--steps 30] [--variants fp32,bf16_cl,compile_bf16_cl]
Prints one line per variant and a machine-readable
  RESULT name=<variant> train_img_s=<x> infer_img_s=<y>
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torchvision


def bench(name, batch, steps, dtype=None, channels_last=False, compile_=False):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    model = torchvision.models.alexnet().cuda()
    x = torch.randn(batch, 3, 224, 224, device="cuda")
    y = torch.randint(0, 1000, (batch,), device="cuda")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    fm = torch.compile(model) if compile_ else model

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(fm(x), y)
        loss.backward()
        opt.step()

    t0 = time.time()
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    warm = time.time() - t0
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    for _ in range(steps):
        step()
    e1.record()
    torch.cuda.synchronize()
    t_train = e0.elapsed_time(e1) / 1000 / steps
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
        for _ in range(5):
            fm(x)
        torch.cuda.synchronize()
        e0.record()
        for _ in range(steps):
            fm(x)
        e1.record()
        torch.cuda.synchronize()
    t_infer = e0.elapsed_time(e1) / 1000 / steps
    print(f"torch {name:22s} batch={batch} train {batch / t_train:9.0f} img/s  infer {batch / t_infer:9.0f} img/s"
          f"  (warm-up {warm:.1f}s)", flush=True)
    print(f"RESULT name={name} train_img_s={batch / t_train:.0f} infer_img_s={batch / t_infer:.0f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--variants", default="fp32,bf16_cl,compile_bf16_cl")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print(f"torch {torch.__version__}: no CUDA device; nothing to measure", flush=True)
        return 1
    print(f"torch {torch.__version__} cuda {torch.version.cuda} cudnn {torch.backends.cudnn.version()} "
          f"device {torch.cuda.get_device_name()}", flush=True)
    torch.backends.cudnn.benchmark = True
    specs = {
        "fp32": dict(),
        "bf16": dict(dtype=torch.bfloat16),
        "bf16_cl": dict(dtype=torch.bfloat16, channels_last=True),
        "compile_bf16_cl": dict(dtype=torch.bfloat16, channels_last=True, compile_=True),
    }
    for v in a.variants.split(","):
        try:
            bench(v, a.batch, a.steps, **specs[v])
        except Exception as ex:  # keep going: the other variants still count
            print(f"torch {v}: failed: {type(ex).__name__}: {str(ex)[:300]}", flush=True)
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
