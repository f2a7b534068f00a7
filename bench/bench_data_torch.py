"""The peer for bench_data.sh: torchvision's ImageFolder + DataLoader with the
seed's train transforms (as in bench/anchors/torch_loader_bench.py).
Prints one JSON object with img_s; the first batch (worker start-up) is not
timed, like `alexnet bench-data`."""
import argparse
import json
import time

import torch
import torchvision
import torchvision.transforms as T

p = argparse.ArgumentParser()
p.add_argument("dir")
p.add_argument("--workers", type=int, default=2)
p.add_argument("--size", type=int, default=224)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--color_jitter", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(1)
tf = [T.RandomResizedCrop(a.size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)), T.RandomHorizontalFlip()]
if a.color_jitter:
    tf.append(T.ColorJitter(0.4, 0.4, 0.4))
tf += [T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
dl = torch.utils.data.DataLoader(torchvision.datasets.ImageFolder(a.dir, T.Compose(tf)), batch_size=a.batch,
                                 shuffle=True, num_workers=a.workers, drop_last=True)
it = iter(dl)
next(it)
n, t = 0, time.perf_counter()
for x, y in it:
    n += x.shape[0]
print(json.dumps({"peer": "torchvision DataLoader", "img_s": n / (time.perf_counter() - t), "images": n}))
