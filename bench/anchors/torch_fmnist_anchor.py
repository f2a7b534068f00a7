"""Accuracy anchor: torchvision AlexNet on Fashion-MNIST (Debian dataset-fashion-mnist),
the seed's recipe scaled to a short CPU run. Prints per-epoch top-1/top-5 and img/s.
Usage: python3 bench/anchors/torch_fmnist_anchor.py --res 64 --epochs 3 --batch 128 --lr 0.05"""
import argparse, gzip, math, time, numpy as np, torch, torchvision, torchvision.transforms as T
from PIL import Image
p = argparse.ArgumentParser()
p.add_argument("--res", type=int, default=64); p.add_argument("--epochs", type=int, default=3)
p.add_argument("--batch", type=int, default=128); p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--warmup", type=float, default=0.5); p.add_argument("--threads", type=int, default=2)
p.add_argument("--limit", type=int, default=0); p.add_argument("--smin", type=float, default=0.35); p.add_argument("--ls", type=float, default=0.1)
a = p.parse_args(); torch.set_num_threads(a.threads); torch.manual_seed(0)
D = "/usr/share/datasets/fashion-mnist/"
def idx(f, off): return np.frombuffer(gzip.open(D + f).read(), np.uint8, offset=off)
Xtr = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28); Ytr = idx("train-labels-idx1-ubyte.gz", 8)
Xte = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28); Yte = idx("t10k-labels-idx1-ubyte.gz", 8)
if a.limit: Xtr, Ytr = Xtr[:a.limit], Ytr[:a.limit]
norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
ttf = T.Compose([T.RandomResizedCrop(a.res, scale=(a.smin, 1.0), ratio=(0.75, 1.333)), T.RandomHorizontalFlip(), T.ToTensor()])
etf = T.Compose([T.Resize((round(a.res * 256 / 224),) * 2), T.CenterCrop(a.res), T.ToTensor()])
class DS(torch.utils.data.Dataset):
    def __init__(s, X, Y, tf): s.X, s.Y, s.tf = X, Y, tf
    def __len__(s): return len(s.X)
    def __getitem__(s, i): return norm(s.tf(Image.fromarray(s.X[i])).expand(3, -1, -1)), int(s.Y[i])
tl = torch.utils.data.DataLoader(DS(Xtr, Ytr, ttf), a.batch, shuffle=True, drop_last=True, num_workers=0)
vl = torch.utils.data.DataLoader(DS(Xte, Yte, etf), 500, num_workers=0)
m = torchvision.models.alexnet(num_classes=10)
decay = [p_ for n, p_ in m.named_parameters() if not n.endswith("bias")]
nodecay = [p_ for n, p_ in m.named_parameters() if n.endswith("bias")]
opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-4}, {"params": nodecay, "weight_decay": 0}], lr=a.lr, momentum=0.9)
lossf = torch.nn.CrossEntropyLoss(label_smoothing=a.ls)
total = a.epochs * len(tl); wu = int(a.warmup * len(tl)); step = 0
def lr_at(s): return a.lr * (s + 1) / wu if s < wu else a.lr * 0.5 * (1 + math.cos(math.pi * (s - wu) / (total - wu)))
for ep in range(a.epochs):
    m.train(); t = time.time(); n = 0; ls = 0
    for x, y in tl:
        for g in opt.param_groups: g["lr"] = lr_at(step)
        opt.zero_grad(); loss = lossf(m(x), y); loss.backward(); opt.step()
        step += 1; n += len(y); ls += loss.item() * len(y)
    tt = time.time() - t
    m.eval(); c1 = c5 = 0
    with torch.no_grad():
        for x, y in vl:
            top = m(x).topk(5, 1).indices
            c1 += (top[:, 0] == y).sum().item(); c5 += (top == y[:, None]).any(1).sum().item()
    print(f"epoch {ep+1}/{a.epochs} loss {ls/n:.4f} train {n/tt:.1f} img/s ({tt:.0f}s) test top1 {100*c1/len(Yte):.2f}% top5 {100*c5/len(Yte):.2f}%", flush=True)
