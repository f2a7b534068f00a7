#!/usr/bin/env python3
"""recipe_test.py — what users of torchvision's and timm's training scripts reach for beyond the recipe
(issue 27), each checked against the reference implementation it copies.

usage: recipe_test.py ALEXNET GROUP
  average  `alexnet average` against timm's avg_checkpoints.py arithmetic (float64 sums in the files' order,
           one division, one rounding to float32): bit-identical; files of another model refused
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import st_write
import torch
import torchvision
from check import check, run_group

BIN = None


def run(args, timeout=600):
    p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def model_file(path, num_classes=10, seed=0, classes=None, scale=1.0, extra_meta=None):
    """A torchvision AlexNet state_dict as a model file, with our metadata (or none when classes is False)."""
    torch.manual_seed(seed)
    sd = {k: v * scale for k, v in torchvision.models.alexnet(num_classes=num_classes).state_dict().items()}
    meta = None
    if classes is not False:
        names = classes or [f"class_{i}" for i in range(num_classes)]
        meta = {"format": "pt", "backbone": "alexnet", "num_classes": num_classes, "image_size": 224,
                "classes": "[" + ",".join(f'"{n}"' for n in names) + "]", "epoch": 3 + seed, "step": 100 * seed}
        meta.update(extra_meta or {})
    st_write.save(path, sd, meta)
    return sd


def timm_average(sds):
    """timm's avg_checkpoints.py: float64 accumulation in order, division by the count, float32."""
    out = {}
    for k in sds[0]:
        acc = sds[0][k].clone().to(torch.float64)
        for sd in sds[1:]:
            acc += sd[k].to(torch.float64)
        out[k] = (acc / len(sds)).to(torch.float32)
    return out


def group_average(tmp):
    files, sds = [], []
    for seed in range(3):
        path = os.path.join(tmp, f"m{seed}.safetensors")
        sds.append(model_file(path, seed=seed, scale=1.0 + seed))
        files.append(path)
    out = os.path.join(tmp, "avg.safetensors")
    rc, so, se = run(["average"] + files + ["--out", out])
    check(rc == 0 and "mean of 3 model files" in so, f"average of 3 files (rc={rc}) {so.strip()} {se.strip()}")
    got, meta = st_write.load(out)
    want = timm_average(sds)
    check(set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want),
          "bit-identical to timm's float64 mean, tensor by tensor")
    check(meta.get("backbone") == "alexnet" and "class_0" in meta.get("classes", ""),
          f"the output keeps the backbone and class names ({ {k: meta[k] for k in ('backbone', 'num_classes')} })")
    img = os.path.join(tmp, "x.png")
    from PIL import Image
    Image.new("RGB", (64, 48), (120, 30, 200)).save(img)
    rc, so, se = run(["predict", "--pretrained", out, "--backend", "ref", "--threads", "1", img])
    check(rc == 0 and "class_" in so, f"predict opens the averaged file (rc={rc}) {se.strip()[:300]}")

    # torchvision's own files (no metadata: epoch unknown) average too, and the result opens again
    tv = []
    for seed in range(2):
        path = os.path.join(tmp, f"tv{seed}.safetensors")
        model_file(path, seed=seed, classes=False)
        tv.append(path)
    tv_out = os.path.join(tmp, "tv_avg.safetensors")
    rc, so, se = run(["average"] + tv + ["--out", tv_out])
    rc2, so2, se2 = run(["average", tv_out, tv[0], "--out", os.path.join(tmp, "again.safetensors")])
    check(rc == 0 and rc2 == 0, f"torchvision files (no metadata) average, and the result reads back "
          f"(rc={rc}, {rc2}) {se.strip()[:200]} {se2.strip()[:200]}")

    def refused(args, words, what):
        before = set(os.listdir(tmp))
        rc, so, se = run(args)
        made = set(os.listdir(tmp)) - before
        check(rc == 2 and all(w in se for w in words) and not made and "Traceback" not in se,
              f"{what}: exit 2 naming {words}, nothing written (rc={rc}, new files {sorted(made)}) {se.strip()[:300]}")

    other = os.path.join(tmp, "k5.safetensors")
    model_file(other, num_classes=5)
    refused(["average", files[0], other, "--out", os.path.join(tmp, "bad1.safetensors")], ["k5.safetensors", "5"],
            "a file with another class count")
    renamed = os.path.join(tmp, "renamed.safetensors")
    model_file(renamed, classes=[f"other_{i}" for i in range(10)])
    refused(["average", files[0], renamed, "--out", os.path.join(tmp, "bad2.safetensors")],
            ["renamed.safetensors", "other classes"], "a file naming other classes")
    sd = dict(sds[0])
    sd["classifier.6.weight"] = sd["classifier.6.weight"].clone()
    sd["classifier.6.weight"][0, 0] = float("nan")
    nan = os.path.join(tmp, "nan.safetensors")
    st_write.save(nan, sd, {"backbone": "alexnet", "num_classes": 10})
    refused(["average", files[0], nan, "--out", os.path.join(tmp, "bad3.safetensors")],
            ["nan.safetensors", "classifier.6.weight"], "a file with a NaN weight")
    small = {k: v for k, v in sds[0].items() if k != "features.0.bias"}
    partial = os.path.join(tmp, "partial.safetensors")
    st_write.save(partial, small, {"backbone": "alexnet", "num_classes": 10})
    refused(["average", files[0], partial, "--out", os.path.join(tmp, "bad4.safetensors")],
            ["partial.safetensors", "features.0.bias"], "a file missing a tensor")
    refused(["average", files[0], "--out", os.path.join(tmp, "bad5.safetensors")], ["two"], "one file")
    refused(["average", files[0], files[1]], ["--out"], "no --out")
    refused(["average", files[0], os.path.join(tmp, "missing.safetensors"), "--out",
             os.path.join(tmp, "bad6.safetensors")], ["missing.safetensors"], "a missing file")


def main():
    global BIN
    BIN = os.path.abspath(sys.argv[1])
    run_group({"average": group_average}, sys.argv[2], "recipe")


if __name__ == "__main__":
    main()
