"""torchvision AlexNet on the CPU, synthetic data, one memory format per run:
prints one JSON object with train_img_s (forward + backward + SGD step),
infer_img_s (eval forward under no_grad), both batch / median step time, and
peak_rss_mb. Mirrors `alexnet bench`: same batch, size, classes, threads,
SGD(momentum 0.9, wd 1e-4), CrossEntropyLoss(label_smoothing=0.1).

usage: python3 torch_cpu_bench.py --res 224 --batch 64 --classes 1000 --threads 2
           [--steps 5] [--warmup 1] [--channels_last] [--bf16] [--profile FILE]
--bf16: forward under torch.autocast("cpu", bfloat16), loss on fp32 logits.
--profile writes torch.profiler's per-operator table of 2 train steps to FILE.
"""
import argparse, json, resource, time

import torch
import torchvision

p = argparse.ArgumentParser()
p.add_argument("--res", type=int, default=224)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--classes", type=int, default=1000)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--warmup", type=int, default=1)
p.add_argument("--channels_last", action="store_true")
p.add_argument("--profile", default="")
p.add_argument("--bf16", action="store_true", help="CPU autocast bf16 (PyTorch's mixed precision), loss in fp32")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
m = torchvision.models.alexnet(num_classes=a.classes)
x = torch.randn(a.batch, 3, a.res, a.res)
y = torch.randint(0, a.classes, (a.batch,))
if a.channels_last:
    m = m.to(memory_format=torch.channels_last)
    x = x.to(memory_format=torch.channels_last)
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
lossf = torch.nn.CrossEntropyLoss(label_smoothing=0.1)


def autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16)


def train_step():
    opt.zero_grad(set_to_none=True)
    with autocast():
        out = m(x)
    lossf(out.float(), y).backward()
    opt.step()


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])


m.train()
for _ in range(a.warmup):
    train_step()
ts = []
for _ in range(a.steps):
    t = time.perf_counter(); train_step(); ts.append(time.perf_counter() - t)
if a.profile:
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(2):
            train_step()
    with open(a.profile, "w") as f:
        f.write(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=40))
        f.write("\n\nby input shape:\n")
        f.write(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=40))
m.eval()
ti = []
with torch.no_grad(), autocast():
    for _ in range(a.warmup):
        m(x)
    for _ in range(a.steps):
        t = time.perf_counter(); m(x); ti.append(time.perf_counter() - t)
print(json.dumps({
    "peer": f"torch {torch.__version__}" + (" bf16" if a.bf16 else ""), "channels_last": a.channels_last,
    "train_img_s": a.batch / median(ts), "train_img_s_best": a.batch / min(ts),
    "infer_img_s": a.batch / median(ti), "infer_img_s_best": a.batch / min(ti),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
}))
