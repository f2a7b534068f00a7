#!/usr/bin/python3
"""bench_scale.py — alexnet against torchvision on ImageNet-shaped folders of 10k, 100k and 1.3M files.

The trees have ImageNet's shape (1000 WordNet-named class folders, nXXXXXXXX_ID.JPEG files) and are made of
hard links to a pool of a few thousand generated JPEGs of ImageNet-like sizes, so 1.3M entries cost inodes,
not 140 GB. For each size, on the same cores, it measures:
  - alexnet train: seconds from launch to the first training step's line, and peak RSS (scan, model,
    loaders, first batch);
  - alexnet train --resume of that run: the same;
  - torchvision: ImageFolder + DataLoader (RandomResizedCrop 224, flip, ToTensor, Normalize; same batch and
    workers) and torchvision's AlexNet with SGD-momentum, to the end of the first step (scan time apart), and
    peak RSS (the process and its loader workers);
  - with --eval_max N (default 10000) and at sizes <= N: alexnet eval of the tree, and alexnet prepare pack.
Prints a table (and writes OUT/results.json); absolute times on a shared machine are noise, the ratios hold.

usage: bench/bench_scale.py [--alexnet build/alexnet] [--sizes 10000,100000,1300000] [--out /tmp/alexnet-scale]
                            [--pool 2000] [--batch 32] [--workers 2] [--eval_max 10000] [--cold]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from PIL import Image


def make_pool(pool_dir, count):
    """count JPEGs of ImageNet-like sizes (shorter side 300-500, aspect 3:4 to 4:3), smooth content + noise."""
    os.makedirs(pool_dir, exist_ok=True)
    have = sorted(os.listdir(pool_dir))
    if len(have) >= count:
        return [os.path.join(pool_dir, f) for f in have[:count]]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        short = int(rng.integers(300, 501))
        long_ = int(short * rng.uniform(1.0, 4 / 3))
        w, h = (long_, short) if i % 2 else (short, long_)
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * (c + 1) + yy * (3 - c)) % 256 for c in range(3)], -1).astype(np.float32)
        img = np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
        p = os.path.join(pool_dir, f"pool_{i:05d}.JPEG")
        Image.fromarray(img).save(p, quality=85)
        paths.append(p)
    return paths


def make_tree(root, n, pool):
    """root/train/<1000 classes>/<n/1000 files each>, hard links into pool."""
    done = os.path.join(root, ".complete")
    if os.path.exists(done):
        return os.path.join(root, "train")
    per = n // 1000
    k = 0
    for c in range(1000):
        wnid = f"n{1440764 + c * 9973:08d}"
        d = os.path.join(root, "train", wnid)
        os.makedirs(d, exist_ok=True)
        for i in range(per):
            dst = os.path.join(d, f"{wnid}_{10000 + i}.JPEG")
            if not os.path.exists(dst):
                os.link(pool[k % len(pool)], dst)
            k += 1
    open(done, "w").close()
    return os.path.join(root, "train")


def drop_caches(cold):
    """--cold: the page cache, dentries and inodes dropped (root), so a scan reads the disk as after a reboot."""
    if cold:
        subprocess.run(["sync"])
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")


def first_step(cmd, needle, timeout=3600):
    """Seconds from launch to the first output line containing needle, and the peak RSS (MB) of the whole run
    (GNU time's), which ends soon after (--max_steps)."""
    rss_file = "/tmp/bench-scale-time.txt"
    t0 = time.time()
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    seen = None
    out = []
    for line in p.stdout:
        out.append(line)
        if seen is None and needle in line:
            seen = time.time() - t0
    p.wait(timeout=timeout)
    rss = int(open(rss_file).read().split()[-1]) / 1024 if os.path.exists(rss_file) else float("nan")
    if p.returncode != 0 or seen is None:
        sys.exit(f"bench_scale: {' '.join(cmd)} failed ({p.returncode}):\n{''.join(out[-20:])}")
    return seen, rss


TORCH_FIRST_BATCH = r"""
import resource, sys, time
t0 = time.time()
import torch, torchvision
from torchvision import transforms as T
torch.set_num_threads(int(sys.argv[3]))
tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
ds = torchvision.datasets.ImageFolder(sys.argv[1], tf)
t_scan = time.time() - t0
dl = torch.utils.data.DataLoader(ds, batch_size=int(sys.argv[2]), shuffle=True, num_workers=int(sys.argv[3]))
model = torchvision.models.alexnet(num_classes=len(ds.classes))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
x, y = next(iter(dl))
loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
loss.backward()
opt.step()
t_first = time.time() - t0
rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(f"{t_scan:.2f} {t_first:.2f} {rss / 1024:.0f}")
"""


def plot_svg(results, path):
    """First step (s) and peak RSS (MB) against entries (log scale), alexnet and torchvision: a small SVG."""
    import math
    W, H, L, B = 640, 300, 60, 40
    xs = [math.log10(r["entries"]) for r in results]
    x0, x1 = min(xs) - 0.1, max(xs) + 0.1

    def panel(ox, key_a, key_t, title, unit):
        vals = [r[key_a] for r in results] + [r[key_t] for r in results]
        top = max(vals) * 1.15
        pw = W / 2 - L - 35
        ph = H - B - 30

        def px(x):
            return ox + L + (x - x0) / (x1 - x0) * pw

        def py(v):
            return 30 + ph - v / top * ph
        out = [f'<text x="{ox + L}" y="18" font-size="13">{title}</text>',
               f'<line x1="{ox + L}" y1="{30 + ph}" x2="{ox + L + pw}" y2="{30 + ph}" stroke="black"/>',
               f'<line x1="{ox + L}" y1="30" x2="{ox + L}" y2="{30 + ph}" stroke="black"/>']
        for k in range(5):
            v = top * k / 4
            out.append(f'<text x="{ox + L - 6}" y="{py(v) + 4:.1f}" font-size="10" text-anchor="end">{v:.0f}</text>')
        for r, x in zip(results, xs):
            out.append(f'<text x="{px(x):.1f}" y="{30 + ph + 14}" font-size="10" text-anchor="middle">'
                       f'{r["entries"]:,}</text>')
        for key, colour, name in ((key_a, "#1f77b4", "alexnet"), (key_t, "#d62728", "torchvision")):
            pts = " ".join(f"{px(x):.1f},{py(r[key]):.1f}" for r, x in zip(results, xs))
            out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
            out += [f'<circle cx="{px(x):.1f}" cy="{py(r[key]):.1f}" r="3" fill="{colour}"/>'
                    for r, x in zip(results, xs)]
            last = results[-1][key]
            out.append(f'<text x="{px(xs[-1]) - 4:.1f}" y="{py(last) - 8:.1f}" font-size="10" fill="{colour}" '
                       f'text-anchor="end">{name} {last:.1f} {unit}</text>')
        out.append(f'<text x="{ox + L + pw / 2}" y="{H - 6}" font-size="11" text-anchor="middle">entries in the tree'
                   '</text>')
        return out
    body = panel(0, "alexnet_first_step_s", "torchvision_first_batch_s", "seconds to the first training step", "s")
    body += panel(W / 2, "alexnet_rss_mb", "torchvision_rss_mb", "peak RSS to the first step (MB)", "MB")
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif">'
           '<rect width="100%" height="100%" fill="white"/>' + "".join(body) + "</svg>\n")
    with open(path, "w") as f:
        f.write(svg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alexnet", default="build/alexnet")
    ap.add_argument("--sizes", default="10000,100000,1300000")
    ap.add_argument("--out", default="/tmp/alexnet-scale")
    ap.add_argument("--pool", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--eval_max", type=int, default=10000)
    ap.add_argument("--cold", action="store_true", help="drop the kernel's caches before each measurement (root)")
    ap.add_argument("--plot", help="also draw the results as this SVG file")
    ap.add_argument("--replot", help="only draw --plot from this results.json")
    a = ap.parse_args()
    if a.replot:
        plot_svg(json.load(open(a.replot)), a.plot)
        return
    exe = os.path.abspath(a.alexnet)
    os.makedirs(a.out, exist_ok=True)
    t = time.time()
    pool = make_pool(os.path.join(a.out, "pool"), a.pool)
    print(f"pool: {len(pool)} JPEGs, {sum(os.path.getsize(p) for p in pool) / len(pool) / 1024:.0f} KB each on "
          f"average ({time.time() - t:.0f} s)", flush=True)
    results = []
    for n in (int(s) for s in a.sizes.split(",")):
        t = time.time()
        tree = make_tree(os.path.join(a.out, f"tree-{n}"), n, pool)
        print(f"{n} entries: tree ready in {time.time() - t:.0f} s", flush=True)
        subprocess.run(["sync"])
        run = os.path.join(a.out, f"run-{n}")
        subprocess.run(["rm", "-rf", run])
        train = [exe, "train", "--data_dir", tree, "--out", run, "--per_batch_size", str(a.batch),
                 "--image_size", "224", "--max_epoch", "1", "--warmup_epochs", "0", "--workers", str(a.workers),
                 "--log_interval", "1", "--save_best", "0"]
        drop_caches(a.cold)
        ours, ours_rss = first_step(train + ["--max_steps", "1"], "step 1/")
        drop_caches(a.cold)
        resumed, resumed_rss = first_step([exe, "train", "--resume", run, "--max_steps", "2"], "step 2/")
        drop_caches(a.cold)
        p = subprocess.run([sys.executable, "-c", TORCH_FIRST_BATCH, tree, str(a.batch), str(a.workers)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"bench_scale: torchvision failed: {p.stderr[-2000:]}")
        tv_scan, tv_first, tv_rss = (float(v) for v in p.stdout.split())
        r = {"entries": n, "cold": a.cold, "alexnet_first_step_s": round(ours, 2), "alexnet_rss_mb": round(ours_rss),
             "alexnet_resume_first_step_s": round(resumed, 2), "alexnet_resume_rss_mb": round(resumed_rss),
             "torchvision_scan_s": tv_scan, "torchvision_first_batch_s": tv_first, "torchvision_rss_mb": tv_rss}
        if n <= a.eval_max:
            model = os.path.join(run, "last.safetensors")
            t = time.time()
            e = subprocess.run([exe, "eval", "--data_dir", tree, "--pretrained", model, "--json",
                                "--workers", str(a.workers)], capture_output=True, text=True)
            r["alexnet_eval_s"] = round(time.time() - t, 1) if e.returncode == 0 else None
            pack = os.path.join(a.out, f"tree-{n}.pack")
            t = time.time()
            k = subprocess.run([exe, "prepare", "pack", "--data_dir", tree, "--out", pack + ".new"],
                               capture_output=True, text=True)
            r["alexnet_pack_s"] = round(time.time() - t, 1) if k.returncode == 0 else None
            if k.returncode == 0:
                r["pack_mb"] = round(os.path.getsize(pack + ".new") / 2**20)
                os.remove(pack + ".new")
        results.append(r)
        print(json.dumps(r), flush=True)
        subprocess.run(["rm", "-rf", run])
    json.dump(results, open(os.path.join(a.out, "results-cold.json" if a.cold else "results.json"), "w"), indent=1)
    if a.plot:
        plot_svg(results, a.plot)
    print(f"\n{'entries':>9} {'alexnet first step':>19} {'RSS':>7} {'resume':>7} {'RSS':>7} "
          f"{'torchvision first step':>24} {'(scan)':>7} {'RSS':>7} {'ratio':>6}")
    for r in results:
        print(f"{r['entries']:>9} {r['alexnet_first_step_s']:>17.1f} s {r['alexnet_rss_mb']:>4} MB "
              f"{r['alexnet_resume_first_step_s']:>5.1f} s {r['alexnet_resume_rss_mb']:>4} MB "
              f"{r['torchvision_first_batch_s']:>22.1f} s {r['torchvision_scan_s']:>5.1f} s "
              f"{r['torchvision_rss_mb']:>4.0f} MB {r['torchvision_first_batch_s'] / r['alexnet_first_step_s']:>6.2f}")


if __name__ == "__main__":
    main()
