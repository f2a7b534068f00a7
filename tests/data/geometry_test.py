"""geometry_test.py — the eval geometry (--val_resize_size, --val_crop_size,
--train_crop_size) and test-time augmentation (--tta flip).

usage: geometry_test.py transforms DATA_TOOL | cli ALEXNET

transforms: our eval transform at several (resize, crop) pairs against
  torchvision's Resize(R) + CenterCrop(C) (R 0: the seed's Resize((R0, R0)),
  R0 = round(C*256/224)), PIL backend, on JPEG/PNG files. Tolerances as in
  data_transforms.py: exact mode (full-size decode) bit-identical floats; the
  loader's fast mode (DCT-domain downscaling) mean <= 1.5 and p99 <= 8 levels;
  predict's path identical to the loader's.
cli: a torchvision-layout checkpoint evaluated by `alexnet eval` and `predict`
  against torchvision's model and transforms on the same files (images small
  enough that nothing is DCT-downscaled, so the inputs are identical): the mean
  cross-entropy of eval --json and predict's logits, with and without
  --tta flip (the mean of the logits of x and of torch.flip(x, [3])); TTA
  must change the numbers; bad values are refused with exit 2 naming the
  flag; a short training run validates at another crop and resize.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import Checker
from data_common import photo, read_raw, tmpdir, tool

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
torch.set_num_threads(1)


def reference(path, R, C):
    img = Image.open(path).convert("RGB")
    x = T.CenterCrop(C)(T.Resize(R)(img) if R else T.Resize((round(C * 256 / 224),) * 2)(img))
    return np.asarray(x), F.normalize(F.to_tensor(x), MEAN, STD)


def group_transforms(exe, C, d):
    images = {}
    for name, (w, h, seed, mode, kw) in {
        "photo.jpg": (500, 375, 21, "RGB", {"quality": 90}),
        "portrait.png": (300, 421, 22, "RGB", {}),
        "small.jpg": (90, 70, 23, "RGB", {"quality": 95}),
        "gray.jpg": (333, 250, 24, "L", {"quality": 90}),
        "prog.jpg": (640, 480, 25, "RGB", {"quality": 88, "progressive": True}),
    }.items():
        p = os.path.join(d, name)
        photo(w, h, seed, mode).save(p, **kw)
        images[name] = p
    out = os.path.join(d, "out.raw")
    # (resize, crop): the default, torchvision's 256/224 and 232/224, resize == crop, odd margins
    # (round half to even in CenterCrop), upsampling of the small image, a crop above the training size
    for R, S in [(0, 224), (256, 224), (232, 224), (224, 224), (97, 64), (160, 127), (0, 101), (300, 288)]:
        for name, path in images.items():
            ref_u8, ref_f = reference(path, R, S)
            tag = f"{name} resize {R} crop {S}"
            tool(exe, "eval", path, out, S, "nchw", 1, R)
            got = read_raw(out, (3, S, S), np.float32)
            C.check(np.array_equal(got, ref_f.numpy()), f"exact {tag}: max |diff| {np.abs(got - ref_f.numpy()).max():.3g}")
            tool(exe, "eval", path, out, S, "u8", 0, R)
            fast = read_raw(out, (S, S, 3))
            e = np.abs(fast.astype(int) - ref_u8.astype(int))
            C.check(e.mean() <= 1.5 and np.percentile(e, 99) <= 8,
                    f"fast {tag}: mean {e.mean():.2f} p99 {np.percentile(e, 99):.0f} max {e.max()} levels")
            tool(exe, "predict", path, out, S, "u8", R)
            C.check(np.array_equal(read_raw(out, (S, S, 3)), fast), f"predict == loader {tag}")
    # a resize below the crop can't be centre-cropped: refused, naming the sizes
    r = tool(exe, "eval", images["photo.jpg"], out, 224, "u8", 0, 200, check=False)
    C.check(r.returncode != 0 and "center crop 224 is larger" in r.stderr, f"resize < crop refused: {r.stderr.strip()}")


def run(exe, *args):
    p = subprocess.run([exe] + [str(a) for a in args], capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout, p.stderr


def last_json(text):
    lines = [l for l in text.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def group_cli(exe, C, d):
    # 2 classes x 3 photos each; at most 1.9x the resized size, so no DCT-domain downscaling
    data = os.path.join(d, "val")
    files, labels = [], []
    for c in range(2):
        os.makedirs(os.path.join(data, f"c{c}"))
        for i in range(3):
            p = os.path.join(data, f"c{c}", f"img{i}.jpg")
            photo(260 + 37 * i, 230 + 19 * c, 40 + 3 * c + i).save(p, quality=92)
            files.append(p)
            labels.append(c)
    torch.manual_seed(3)
    net = torchvision.models.alexnet(num_classes=2).eval()
    with torch.no_grad():  # logits far from uniform, so the comparisons mean something
        net.classifier[6].weight.mul_(200.0)
    import st_write
    ckpt = os.path.join(d, "tv.safetensors")
    st_write.save(ckpt, net.state_dict())

    def torch_logits(R, S, flip):
        with torch.no_grad():
            x = torch.stack([reference(p, R, S)[1] for p in files])
            z = net(x)
            return (z + net(torch.flip(x, [3]))) / 2 if flip else z

    def xent(z):
        return float(torch.nn.functional.cross_entropy(z.double(), torch.tensor(labels)))

    base = ["--pretrained", ckpt, "--threads", "2"]
    results = {}
    for R, S, tta in [(0, 224, "none"), (0, 224, "flip"), (232, 192, "none"), (232, 192, "flip"), (160, 160, "flip")]:
        tag = f"resize {R} crop {S} tta {tta}"
        ref = torch_logits(R, S, tta == "flip")
        geo = ["--val_crop_size", S, "--val_resize_size", R, "--tta", tta]
        # fp32: the comparison with torch's float model is of the geometry (bf16 has its own tests)
        rc, so, se = run(exe, "eval", "--data_dir", data, "--json", "--per_batch_size", 4, "--precision", "fp32", *base,
                         *geo)
        res = last_json(so)
        want = xent(ref)
        C.check(rc == 0 and abs(res.get("loss", -1) - want) <= 1e-4 * max(1.0, want),
                f"eval {tag}: loss {res.get('loss')} vs torch {want:.7g} ({rc}: {se.strip()[-300:]})")
        results[(R, S, tta)] = res.get("loss")
        rc, so, se = run(exe, "predict", "--json", "--logits", "--precision", "fp32", *base, *geo, *files)
        got = [json.loads(l)["logits"] for l in so.splitlines() if l.startswith("{")]
        got = np.array(got) if got else np.zeros(1)
        scale = float(ref.abs().max())
        err = np.abs(got - ref.numpy()).max() if got.shape == tuple(ref.shape) else float("inf")
        C.check(rc == 0 and err <= 1e-4 * scale, f"predict {tag}: logits max |diff| {err:.3g} (logit scale {scale:.3g})")
    for R, S in [(0, 224), (232, 192)]:
        a, b = results[(R, S, "none")], results[(R, S, "flip")]
        C.check(a is not None and b is not None and abs(a - b) > 1e-3, f"--tta flip changes the loss at {R}/{S}: {a} vs {b}")

    # bad values: exit 2, one line naming the flag
    bad = [
        (["eval", "--data_dir", data, *base, "--val_resize_size", 200, "--val_crop_size", 224], "--val_resize_size 200 is smaller than --val_crop_size 224"),
        (["eval", "--data_dir", data, *base, "--val_crop_size", 40], "--val_crop_size (--image_size) 40"),
        (["predict", *base, "--val_crop_size", 40, files[0]], "--val_crop_size (--image_size) 40"),
        (["eval", "--data_dir", data, *base, "--val_resize_size", -3], "--val_resize_size"),
        (["eval", "--data_dir", data, *base, "--tta", "five_crop"], "--tta"),
        (["eval", "--data_dir", data, *base, "--train_crop_size", 100], "--val_crop_size"),
        (["predict", *base, "--val_resize_size", 100, files[0]], "--val_resize_size 100 is smaller than --val_crop_size 224"),
        (["predict", *base, "--tta", "flop", files[0]], "--tta"),
        (["predict", *base, "--logits", files[0]], "--logits goes with --json"),
        (["train", "--data_dir", data, "--val_resize_size", 128, "--image_size", 160], "--val_resize_size 128 is smaller than --val_crop_size 160"),
        (["train", "--data_dir", data, "--val_crop_size", 50], "--val_crop_size 50"),
        (["train", "--data_dir", data, "--train_crop_size", 96, "--image_size", 128], "--train_crop_size and --image_size"),
    ]
    for args, words in bad:
        rc, so, se = run(exe, *args)
        C.check(rc == 2 and words in se and "Traceback" not in se, f"{' '.join(map(str, args[:1] + args[-4:]))}: exit {rc}, '{words}' in: {se.strip()[:300]}")

    # training validates at its own geometry: train crop 64, validation resize 100 / crop 80 on a copy
    # of the net at 80 px; the saved config keeps it, and a resume can't change it
    out = os.path.join(d, "run")
    train = ["train", "--data_dir", data, "--val_dir", data, "--out", out, "--max_epoch", 1, "--per_batch_size", 2,
             "--train_crop_size", 64, "--val_crop_size", 80, "--val_resize_size", 100, "--threads", 2, "--workers", 2,
             "--warmup_epochs", 0, "--lr", 0.001]
    rc, so, se = run(exe, *train)
    cfg = json.load(open(os.path.join(out, "config.json"))) if rc == 0 else {}
    C.check(rc == 0 and "shorter side resized to 100, center crop 80" in so and cfg.get("image_size") == 64
            and cfg.get("val_crop_size") == 80 and cfg.get("val_resize_size") == 100,
            f"train with validation at 100/80, training at 64 ({rc}: {se.strip()[-300:]})")
    metrics = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))] if rc == 0 else []
    ep = [m for m in metrics if "top1" in m]
    C.check(len(ep) == 1 and ep[0].get("val_images", 6) == 6, f"one validated epoch recorded: {ep}")
    if ep:  # the epoch's model evaluated by alexnet eval at the same geometry: the same loss (metrics: 6 digits)
        rc, so, se = run(exe, "eval", "--data_dir", data, "--json", "--pretrained", os.path.join(out, "last.safetensors"),
                         "--threads", 2, "--val_crop_size", 80, "--val_resize_size", 100)
        got = last_json(so).get("loss", -1)
        C.check(rc == 0 and abs(got - ep[0]["val_loss"]) <= 2e-6 * max(1, got),
                f"eval of last.safetensors at 100/80: loss {got} == training's val_loss {ep[0]['val_loss']}")
        rc, so, se = run(exe, "eval", "--data_dir", data, "--json", "--pretrained", os.path.join(out, "last.safetensors"),
                         "--threads", 2, "--val_crop_size", 64)
        other = last_json(so).get("loss", -1)
        C.check(rc == 0 and abs(other - ep[0]["val_loss"]) > 1e-4, f"and differs at the train crop: {other}")
    rc, so, se = run(exe, "train", "--resume", out, "--max_epoch", 2, "--val_crop_size", 96)
    C.check("ignored: --val_crop_size" in se, f"--val_crop_size is part of the run contract on resume: {se.strip()[:300]}")


def main():
    group, exe = sys.argv[1], sys.argv[2]
    C = Checker(f"geometry_{group}", quiet=True)
    d = tmpdir(f"alexnet_geometry_{group}_")
    {"transforms": group_transforms, "cli": group_cli}[group](exe, C, d)
    C.done()


if __name__ == "__main__":
    main()
