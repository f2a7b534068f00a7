"""Anchor: PyTorch (Debian python3-torch) AlexNet throughput on this CPU.
Usage: python3 bench/anchors/torch_cpu_anchor.py [--res 224] [--batch 64] [--threads 2] [--steps 5]"""
import argparse, time, torch, torchvision
p = argparse.ArgumentParser()
p.add_argument("--res", type=int, default=224)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--classes", type=int, default=1000)
p.add_argument("--channels_last", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
m = torchvision.models.alexnet(num_classes=a.classes)
x = torch.randn(a.batch, 3, a.res, a.res)
y = torch.randint(0, a.classes, (a.batch,))
if a.channels_last:
    m = m.to(memory_format=torch.channels_last); x = x.to(memory_format=torch.channels_last)
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
lossf = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
def train_step():
    opt.zero_grad(set_to_none=True)
    loss = lossf(m(x), y); loss.backward(); opt.step()
m.train(); train_step()
t = time.perf_counter()
for _ in range(a.steps): train_step()
tt = (time.perf_counter() - t) / a.steps
m.eval()
with torch.no_grad():
    m(x); t = time.perf_counter()
    for _ in range(a.steps): m(x)
    ti = (time.perf_counter() - t) / a.steps
print(f"torch {torch.__version__} threads={a.threads} res={a.res} batch={a.batch} cl={a.channels_last}: "
      f"train {a.batch/tt:.1f} img/s ({tt*1000:.0f} ms/step)  infer {a.batch/ti:.1f} img/s")
