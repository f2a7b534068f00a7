#!/usr/bin/env python3
"""recipe_test.py — what users of torchvision's and timm's training scripts reach for beyond the recipe
(issue 27), each checked against the reference implementation it copies.

usage: recipe_test.py ALEXNET GROUP
  average    `alexnet average` against timm's avg_checkpoints.py arithmetic (float64 sums in the files' order,
             one division, one rounding to float32): bit-identical; files of another model refused
  per_class  `eval --per_class`: every per-class number and the confusion matrix recomputed from predict's
             logits of the same images (exactly: counts); a class without images; 1000 classes; the SVG;
             train --val_per_class
  ra_sampler `--ra_sampler --ra_reps N` (the loader through data_tool, 2 ranks, then train): the ranks' samples
             are torchvision's RASampler.__iter__ (references/classification/sampler.py, restated below) applied to
             the loader's shuffle; each copy of an image augmented anew; the epoch's length; too small a set refused
  accum      `--accum_steps N`: N micro-batches of B/N end where one batch of B ends (fp32, dropout 0, 6 steps:
             weights to 1e-5 relative), also as 2 MPI ranks; a kill between micro-batches and a resume: bit-identical
  mix        `--mixup_alpha` / `--cutmix_alpha` (through data_tool, then train): for a given lam (and CutMix centre)
             the images and soft targets are torchvision's v2.MixUp / v2.CutMix's (torchvision >= 0.16, Debian 13;
             on Debian 12's 0.14 the two formulas of its _augment.py, restated below), to 1e-6; our Beta(a, a)
             against torch.distributions.Beta and CutMix's lam against torchvision's draws by two-sample
             Kolmogorov-Smirnov; half the batches of each kind with both set; a stop and a resume bit-identical;
             bad values refused
  class_balance `--class_balance sampler | loss` on classes of 4, 12 and 32 images: the sampler's epochs (through
             data_tool's loader) are n draws with every class equally likely (chi-square), every image of the small
             class drawn, 2 ranks dealt the 1-rank order; the loss weights by the op's unit test; both train, resume
             bit-identical and change the run; a bad value refused
  autoaugment `--auto-augment ta_wide | ra | imagenet` in training: kept in config.json and by --resume (a stop and
             a resume bit-identical), each policy changes the run, bad values refused; the ops and draws themselves
             against torchvision in tests/data/data_autoaugment.py
  progressive `--progressive_min_size` (issue 26): the size of every step against the ramp config.json states, a
             stop at a size change and one before it resumed bit-identical, the model files' size, a time budget's
             plan against the steps' relative costs (test clock), bad values refused
  tensorboard [VENV]  `train --tensorboard`: every record's CRC-32C checked here, and the `tensorboard` package
             (PyPI, in the virtualenv VENV, made on first use) reads the same scalars as metrics.jsonl holds, each
             step once after a kill and a resume
"""
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import st_write
import torch
import torchvision
from check import check, run_group
from check import skip
from cli_common import make_dataset, tensors_equal, wait_for_step
from pypi_venv import pypi_python

BIN = None
VENV = None


def run(args, timeout=600, env=None):
    p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout, env=env)
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


def strict_json(text):
    def refuse(c):
        raise ValueError(f"non-JSON constant {c}")
    return json.loads(text, parse_constant=refuse)


def expected_per_class(data, model, k, names):
    """Per-class counts from predict's logits: the independent path (predict --json --logits, same transform)."""
    rc, so, se = run(["predict", "--pretrained", model, "--json", "--logits", "--topk", "1", "--backend", "ref",
                      "--threads", "1", data])
    check(rc == 0, f"predict --logits on the data (rc={rc}) {se[-300:]}")
    conf = [[0] * k for _ in range(k)]
    top5 = [0] * k
    for line in so.splitlines():
        r = json.loads(line)
        label = names.index(os.path.basename(os.path.dirname(r["file"])))
        z = r["logits"]
        rank = sum(1 for j in range(k) if z[j] > z[label] or (j < label and z[j] == z[label]))
        if rank == 0:
            pred = label
        else:
            pred = max((j for j in range(k) if j != label), key=lambda j: (z[j], -j))
        conf[label][pred] += 1
        top5[label] += rank < 5
    return conf, top5


def group_per_class(tmp):
    data = os.path.join(tmp, "data")
    make_dataset(data, classes=3, per_class=7, size=(40, 36))
    names = ["class_0", "class_1", "class_2", "class_3"]  # the model knows a fourth class the data has none of
    model = os.path.join(tmp, "m.safetensors")
    model_file(model, num_classes=4, seed=1, classes=names, extra_meta={"image_size": 64})
    common = ["eval", "--data_dir", data, "--pretrained", model, "--backend", "ref", "--threads", "1",
              "--per_batch_size", "5"]
    rc, so, se = run(common + ["--per_class", "--json"])
    check(rc == 0, f"eval --per_class --json (rc={rc}) {se[-300:]}")
    # progress while it evaluates: plain lines on stderr (not a terminal), counts rising to all 21 images
    done = [int(l.split()[1].split("/")[0]) for l in se.splitlines() if l.startswith("evaluating: ")]
    check(len(done) >= 2 and done == sorted(done) and done[-1] == 21 and "ETA" in se,
          f"eval prints its progress on stderr as it goes ({done}), nothing of it on stdout")
    try:
        out = strict_json(so)
    except ValueError as e:
        out = {}
        check(False, f"stdout is strict JSON ({e}): {so[:300]}")
    conf, top5 = expected_per_class(data, model, 4, names)
    check(out.get("confusion") == conf, f"the confusion matrix equals predict's logits' ({out.get('confusion')} vs {conf})")
    pc = out.get("per_class", [])
    ok = len(pc) == 4
    for c in range(4 if ok else 0):
        n, right, predicted = sum(conf[c]), conf[c][c], sum(conf[t][c] for t in range(4))
        want = {"index": c, "class": names[c], "images": n, "predicted": predicted,
                "top1": round(right / n, 6) if n else None, "top5": round(top5[c] / n, 6) if n else None,
                "precision": round(right / predicted, 6) if predicted else None,
                "recall": round(right / n, 6) if n else None}
        ok = ok and all(pc[c].get(key) == v or (isinstance(v, float) and abs(pc[c].get(key, 9) - v) < 2e-6)
                        for key, v in want.items())
        if not ok:
            print(f"class {c}: got {pc[c]} want {want}")
    check(ok, "each class's images, top-1, top-5, precision and recall follow from the matrix (the data-less "
              "class: null)")
    check(abs(sum(conf[c][c] for c in range(4)) / 21 - out.get("top1", -1)) < 1e-6,
          "the diagonal is top-1's count")
    check("per class" in se and "class_3" in se and "precision" in se,
          f"the readable table goes to stderr under --json ({se[:200]})")
    rc, so2, se2 = run(common + ["--per_class"])
    rows = [l for l in so2.splitlines() if l.strip().startswith(("0 ", "1 ", "2 ", "3 "))]
    check(rc == 0 and len(rows) == 4 and rows[3].split()[-1] == "-", f"the table has a row per class, '-' where "
          f"nothing was predicted or seen: {rows}")

    svg = os.path.join(tmp, "confusion.svg")
    rc, so, se = run(common + ["--confusion_svg", svg])
    try:
        root = ET.parse(svg).getroot()
        cells = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.find(
            "{http://www.w3.org/2000/svg}title") is not None]
        texts = [e.text for e in root.iter("{http://www.w3.org/2000/svg}text")]
    except (ET.ParseError, OSError) as e:
        cells, texts = [], []
        check(False, f"the SVG parses as XML ({e})")
    nonzero = sum(1 for row in conf for v in row if v)
    check(rc == 0 and len(cells) == nonzero and all(n in texts for n in names),
          f"--confusion_svg: one cell per non-empty count ({len(cells)} vs {nonzero}), every class named on the axes")
    rc, so, se = run(common + ["--confusion_svg", os.path.join(tmp, "no", "such", "dir", "c.svg")])
    check(rc == 2 and "c.svg" in se and "evaluating" not in se, f"an unwritable --confusion_svg stops before the "
          f"evaluation (rc={rc}) {se.strip()[:200]}")

    # training's validation: --val_per_class records each class's top-1, what eval --per_class says of the model
    run_dir = os.path.join(tmp, "run")
    train = ["train", "--data_dir", data, "--val_dir", data, "--out", run_dir, "--image_size", "64",
             "--per_batch_size", "7", "--max_epoch", "1", "--lr", "0.01", "--warmup_epochs", "0", "--threads", "1",
             "--workers", "1", "--precision", "fp32", "--val_per_class"]
    rc, so, se = run(train)
    rc2, so2, se2 = run(["train", "--resume", run_dir, "--max_epoch", "2"])
    recs = [strict_json(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))] if rc == 0 else []
    epochs = [r for r in recs if r["type"] == "epoch"]
    rc3, so3, se3 = run(["eval", "--data_dir", data, "--pretrained", os.path.join(run_dir, "last.safetensors"),
                         "--threads", "1", "--precision", "fp32", "--per_class", "--json"])
    per = [c["top1"] for c in strict_json(so3)["per_class"]] if rc3 == 0 else None
    check(rc == 0 and rc2 == 0 and len(epochs) == 2 and all(len(e.get("val_class_top1", [])) == 3 for e in epochs)
          and epochs[-1]["val_class_top1"] == per,
          f"--val_per_class: each epoch record holds the 3 classes' top-1 (the first kept through a resume), the "
          f"last equal to eval --per_class of last.safetensors ({[e.get('val_class_top1') for e in epochs]} vs "
          f"{per}; rc {rc} {rc2} {rc3}) {se[-200:]} {se2[-200:]}")

    # 1000 classes (ImageNet's count), the data naming 3 of them
    big_names = [f"class_{i}" for i in range(1000)]
    big = os.path.join(tmp, "k1000.safetensors")
    model_file(big, num_classes=1000, seed=2, classes=big_names, extra_meta={"image_size": 64})
    svg_big = os.path.join(tmp, "confusion1000.svg")
    rc, so, se = run(["eval", "--data_dir", data, "--pretrained", big, "--threads", "1", "--per_class", "--json",
                      "--confusion_svg", svg_big])
    out = strict_json(so) if rc == 0 else {}
    conf_big = out.get("confusion", [])
    try:
        root = ET.parse(svg_big).getroot()
        width = float(root.get("width"))
        ncells = sum(1 for e in root.iter("{http://www.w3.org/2000/svg}rect")
                     if e.find("{http://www.w3.org/2000/svg}title") is not None)
    except (ET.ParseError, OSError, TypeError) as e:
        width, ncells = 1e9, -1
    nz = sum(1 for row in conf_big for v in row if v)
    check(rc == 0 and len(out.get("per_class", [])) == 1000 and len(conf_big) == 1000 and ncells == nz
          and width <= 1000 and os.path.getsize(svg_big) < 2_000_000,
          f"1000 classes: per-class rows, a 1000 x 1000 matrix, an SVG of {width} px holding only its {nz} non-empty "
          f"cells ({ncells}), {os.path.getsize(svg_big) if os.path.exists(svg_big) else -1} bytes (rc={rc}) "
          f"{se[-300:]}")


def crc32c(data):
    """CRC-32C, bit by bit from its definition (an oracle independent of the program's)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecords(path):
    """The records of a TFRecord file; raises on a bad length, CRC or a cut record."""
    data, out, i = open(path, "rb").read(), [], 0
    while i < len(data):
        if i + 12 > len(data):
            raise ValueError(f"cut header at {i}")
        (n,) = struct.unpack("<Q", data[i:i + 8])
        (c1,) = struct.unpack("<I", data[i + 8:i + 12])
        if masked(crc32c(data[i:i + 8])) != c1:
            raise ValueError(f"length CRC at {i}")
        body = data[i + 12:i + 12 + n]
        (c2,) = struct.unpack("<I", data[i + 12 + n:i + 16 + n])
        if len(body) != n or masked(crc32c(body)) != c2:
            raise ValueError(f"data CRC at {i}")
        out.append(body)
        i += 16 + n
    return out


TB_READ = """
import json, sys
from tensorboard.backend.event_processing import event_accumulator as ea
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0})
acc.Reload()
print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))
"""


def tensorboard_python(venv):
    """The virtualenv's python with tensorboard, made on first use; None and a reason when impossible."""
    return pypi_python(venv, "tensorboard", "tensorboard.backend.event_processing.event_accumulator")


def ra_sampler_iter(perm, num_replicas, rank, repetitions):
    """torchvision references/classification/sampler.py RASampler.__iter__, for a given shuffle (its
    torch.randperm(len, generator) replaced by `perm`, since the loader shuffles with its own generator)."""
    n = len(perm)
    num_samples = int(math.ceil(n * float(repetitions) / num_replicas))
    total_size = num_samples * num_replicas
    num_selected_samples = int(math.floor(n // 256 * 256 / num_replicas))
    indices = [ele for ele in perm for i in range(repetitions)]
    indices += indices[: (total_size - len(indices))]
    assert len(indices) == total_size
    indices = indices[rank:total_size:num_replicas]
    assert len(indices) == num_samples
    return indices[:num_selected_samples]


def loader_batches(tool, data, world, rank, batch, epoch, reps):
    r = subprocess.run([tool, "loader", data, "train", "2", str(batch), "32", "0", str(world), str(rank), str(epoch),
                        str(reps)], capture_output=True, text=True)
    idx, hashes = [], []
    for line in r.stdout.splitlines():
        if line.startswith("batch "):
            idx += [int(t.split(":")[0]) for t in line.split(" idx ")[1].split()]
        elif line.startswith("hashes "):
            hashes += line.split()[1:]
    return r.returncode, idx, hashes, r.stderr


def group_ra_sampler(tmp):
    tool = os.path.join(os.path.dirname(BIN), "tests", "data_tool")
    data = os.path.join(tmp, "data")
    make_dataset(data, classes=3, per_class=200, size=(40, 36))  # 600 images: RASampler's epoch takes 512
    world, batch, reps = 2, 16, 3
    for epoch in (0, 1):
        ranks = [loader_batches(tool, data, world, r, batch, epoch, reps) for r in range(world)]
        ok = all(rc == 0 for rc, _, _, _ in ranks)
        check(ok, f"epoch {epoch}: the loader runs on both ranks {[e[-200:] for _, _, _, e in ranks]}")
        seqs = [idx for _, idx, _, _ in ranks]
        # the repeated list, read back by dealing the ranks' samples in turn; its every third entry is the shuffle
        merged = [seqs[k % world][k // world] for k in range(world * min(len(q) for q in seqs))]
        perm = merged[::reps]
        perm += [i for i in range(600) if i not in set(perm)]  # the tail the epoch did not reach, any order
        want = [ra_sampler_iter(perm, world, r, reps) for r in range(world)]
        check(ok and len(set(perm)) == 600 and all(len(seqs[r]) == 256 for r in range(world))
              and all(seqs[r] == want[r] for r in range(world)),
              f"epoch {epoch}: each rank's 256 samples (16 batches of 16) are RASampler's for the shuffle "
              f"({[len(q) for q in seqs]} samples)")
        copies = {}
        for r in range(world):
            for i, h in zip(seqs[r], ranks[r][2]):
                copies.setdefault(i, []).append(h)
        full = [hs for hs in copies.values() if len(hs) == reps]
        check(len(full) >= 170 and all(len(set(hs)) == reps for hs in full),
              f"epoch {epoch}: the {reps} copies of each of {len(full)} images are augmented differently")
    rc0, idx0, _, _ = loader_batches(tool, data, world, 0, batch, 0, reps)
    rc1, idx1, _, _ = loader_batches(tool, data, world, 0, batch, 1, reps)
    check(idx0 != idx1, "another epoch, another shuffle")

    small = os.path.join(tmp, "small")
    make_dataset(small, classes=3, per_class=60, size=(40, 36))  # 180 images: floor(180 / 256) * 256 = 0
    out = os.path.join(tmp, "run_small")
    base = ["train", "--data_dir", small, "--out", out, "--image_size", "64", "--per_batch_size", "8",
            "--max_epoch", "1", "--lr", "0.01", "--warmup_epochs", "0", "--threads", "1", "--workers", "2"]
    rc, so, se = run(base + ["--ra-sampler"])
    check(rc == 2 and "ra_sampler" in se and "256" in se, f"a set too small for RASampler's epoch is refused, "
          f"saying why (rc={rc}) {se.strip()[:300]}")
    out = os.path.join(tmp, "run")
    base[2], base[4] = data, out
    rc, so, se = run(base + ["--ra-sampler", "--ra-reps", "4"])
    cfg = json.load(open(os.path.join(out, "config.json"))) if rc == 0 else {}
    recs = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))] if rc == 0 else []
    check(rc == 0 and cfg.get("ra_sampler") == 1 and cfg.get("ra_reps") == 4 and recs and recs[-1]["step"] == 512 // 8,
          f"train --ra-sampler --ra-reps 4 (torchvision's spellings): an epoch of 512 // 8 = 64 steps, both in "
          f"config.json (rc={rc}) {se[-300:]}")


def relative_difference(a, b):
    """The largest ||a - b|| / ||a|| over the tensors of two model files."""
    ta, _ = st_write.load(a)
    tb, _ = st_write.load(b)
    return max(float((ta[k].double() - tb[k].double()).norm() / ta[k].double().norm().clamp_min(1e-30)) for k in ta)


# the fastest CPU backend of the build (dnnl, else ref): fp32 and deterministic in both; the comparison's bound is
# 1e-5 relative
ACCUM_BACKEND = None


def group_accum(tmp):
    global ACCUM_BACKEND
    info = subprocess.run([BIN, "info"], capture_output=True, text=True).stdout
    built = next((l for l in info.splitlines() if l.startswith("backends:")), "")
    ACCUM_BACKEND = "dnnl" if "dnnl" in built.split("(")[0] else "ref"
    print(f"note: backend {ACCUM_BACKEND}")
    data = os.path.join(tmp, "data")
    make_dataset(data, classes=3, per_class=16, size=(40, 36))  # 48 images: 6 steps of 8 an epoch

    def train(name, batch, accum, extra=(), epochs=1):
        out = os.path.join(tmp, name)
        args = ["train", "--data_dir", data, "--out", out, "--image_size", "64", "--per_batch_size", str(batch),
                "--accum_steps", str(accum), "--max_epoch", str(epochs), "--lr", "0.02", "--warmup_epochs", "0.5",
                "--dropout", "0", "--precision", "fp32", "--backend", ACCUM_BACKEND, "--threads", "1", "--workers", "2",
                "--seed", "3", "--log_interval", "1"] + list(extra)
        return out, args

    big, args = train("big", 8, 1)
    rc, so, se = run(args)
    check(rc == 0, f"batch 8 (rc={rc}) {se[-300:]}")
    for batch, accum in ((4, 2), (2, 4)):
        out, args = train(f"acc{accum}", batch, accum)
        rc, so, se = run(args)
        recs = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))] if rc == 0 else []
        diff = relative_difference(os.path.join(big, "last.safetensors"), os.path.join(out, "last.safetensors")) \
            if rc == 0 else 1.0
        check(rc == 0 and diff <= 1e-5 and recs[-1]["step"] == 6,
              f"batch {batch} x --accum_steps {accum}: 6 steps, the weights of batch 8 to {diff:.2e} relative "
              f"(at most 1e-5) (rc={rc}) {se[-300:]}")

    # a kill between micro-batches, and the resume: the same run, bit for bit
    ref, args = train("acc2_2epochs", 4, 2, epochs=2)
    rc, so, se = run(args)
    check(rc == 0, f"batch 4 x 2 for 2 epochs (rc={rc}) {se[-300:]}")
    killed, kargs = train("killed", 4, 2, ["--save_every_steps", "3"], epochs=2)
    p = subprocess.Popen([BIN] + kargs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reached = wait_for_step(os.path.join(killed, "metrics.jsonl"), 5, p)
    p.send_signal(signal.SIGKILL)
    p.wait()
    rc, so, se = run(["train", "--resume", killed])
    check(reached and rc == 0 and tensors_equal(os.path.join(ref, "last.safetensors"),
                                                os.path.join(killed, "last.safetensors")),
          f"killed at step 5 or later (state saved at 3), resumed: bit-identical to the uninterrupted run (rc={rc}) "
          f"{se[-300:]}")

    rc, so, se = run(train("bad", 8, 7)[1])
    check(rc == 2 and "56" in se and "--accum_steps" in se, f"a global batch of 8 x 7 = 56 over 48 images is refused, "
          f"naming --accum_steps (rc={rc}) {se.strip()[:300]}")

    mpiexec = shutil.which("mpiexec") or shutil.which("mpirun")
    if not mpiexec:
        print("note: no mpiexec here: the 2-rank accumulation is not checked")
        return
    out, args = train("mpi", 2, 2)
    cmd = [mpiexec, "--allow-run-as-root", "--oversubscribe", "-np", "2", "--mca", "btl_vader_single_copy_mechanism",
           "none", BIN] + args[0:]
    # Open MPI's runtime leaks small blocks by design (tests/dist/dist.cmake): leak checking is off for the
    # ranks under the sanitizers, ASan and UBSan stay on
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0"}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    diff = relative_difference(os.path.join(big, "last.safetensors"), os.path.join(out, "last.safetensors")) \
        if p.returncode == 0 else 1.0
    first_error = next((l for l in p.stderr.splitlines() if "error" in l.lower() or "ERROR" in l), "")
    check(p.returncode == 0 and diff <= 1e-5, f"2 ranks x batch 2 x --accum_steps 2: the weights of batch 8 to "
          f"{diff:.2e} relative (rc={p.returncode}) {first_error[:300]} {p.stderr[-300:]}")


def group_tensorboard(tmp):
    data = os.path.join(tmp, "data")
    make_dataset(data, classes=3, per_class=8, size=(40, 36))
    run_dir = os.path.join(tmp, "run")
    train = ["train", "--data_dir", data, "--val_dir", data, "--out", run_dir, "--image_size", "64",
             "--per_batch_size", "4", "--max_epoch", "3", "--lr", "0.01", "--warmup_epochs", "0", "--threads", "1",
             "--workers", "1", "--log_interval", "1", "--save_every_steps", "4", "--tensorboard"]
    # killed at step 10 or later, with the state saved at step 8: the resume replays what came after it
    p = subprocess.Popen([BIN] + train, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    reached = wait_for_step(os.path.join(run_dir, "metrics.jsonl"), 10, p)
    p.send_signal(signal.SIGKILL)
    p.wait()
    check(reached, "the first run reached step 10 before the kill")
    rc, so, se = run(["train", "--resume", run_dir])
    check(rc == 0, f"the resume finishes (rc={rc}) {se[-300:]}")
    events = sorted(f for f in os.listdir(run_dir) if f.startswith("events.out.tfevents."))
    ok, n = len(events) == 2, 0
    try:
        for f in events:
            recs = tfrecords(os.path.join(run_dir, f))
            n += len(recs)
            ok = ok and recs and b"brain.Event:2" in recs[0]
    except ValueError as e:
        ok = False
        print(f"bad record: {e}")
    check(ok and n > 20, f"two event files (one a session), every record's length and data CRC-32C right, each "
          f"file opened by its version event ({events}, {n} records)")
    recs = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    steps = {r["step"]: r for r in recs if r["type"] == "step"}
    epochs = [r for r in recs if r["type"] == "epoch"]

    py, why = tensorboard_python(VENV)
    if not py:
        skip(f"reading the logs with TensorBoard: {why}")
        return
    r = subprocess.run([py, "-c", TB_READ, run_dir], capture_output=True, text=True, timeout=300)
    scalars = json.loads(r.stdout) if r.returncode == 0 else {}
    check(r.returncode == 0, f"TensorBoard's EventAccumulator reads the run directory {r.stderr[-300:]}")
    loss = scalars.get("train/loss", [])
    check([s for s, _ in loss] == sorted(steps) and
          all(abs(v - steps[s]["loss"]) <= 1e-5 * max(1.0, abs(v)) for s, v in loss),
          f"train/loss: each step once despite the replay, the values of metrics.jsonl (to 1e-5: float32 there, "
          f"6 significant digits here) "
          f"({[s for s, _ in loss]} vs {sorted(steps)})")
    top1 = scalars.get("val/top1", [])
    check([s for s, _ in top1] == [e["step"] for e in epochs] and
          all(abs(v - e["top1"]) < 1e-6 for (s, v), e in zip(top1, epochs)),
          f"val/top1 at each epoch's step equals metrics.jsonl's ({top1} vs {[(e['step'], e['top1']) for e in epochs]})")
    want = {"train/lr", "train/img_per_s", "train/top1", "epoch/train_loss", "val/loss", "val/top5"}
    check(want <= set(scalars), f"the other curves are there ({sorted(scalars)})")


def torchvision_mix(kind, x, labels, k, lam, r_x=0, r_y=0):
    """torchvision's v2.MixUp / v2.CutMix on x [n, 3, S, S] with lam (and CutMix's centre) given: the transform
    itself where this torchvision has it (>= 0.16), else its formulas (torchvision/transforms/v2/_augment.py):
    MixUp  x.roll(1, 0).mul_(1 - lam).add_(x.mul(lam));
    CutMix r = 0.5 * sqrt(1 - lam), half sides int(r * W), int(r * H) around (r_x, r_y) clamped, the box of
           x.roll(1, 0) pasted, lam = 1 - box area / image area;
    labels one_hot(y).roll(1, 0).mul_(1 - lam).add_(one_hot(y).mul_(lam)). Returns (images, soft labels, how)."""
    from unittest import mock
    try:
        from torchvision.transforms import v2
    except ImportError:
        v2 = None
    if v2 is not None and hasattr(v2, "MixUp"):
        t = v2.MixUp(alpha=1.0, num_classes=k) if kind == "mixup" else v2.CutMix(alpha=1.0, num_classes=k)

        class Fixed:
            def sample(self, *a, **kw):
                return torch.tensor(lam)
        t._dist = Fixed()
        centre = iter([torch.tensor([r_x]), torch.tensor([r_y])])
        with mock.patch.object(torch, "randint", side_effect=lambda *a, **kw: next(centre)):
            out, soft = t(x.clone(), labels.clone())
        return out, soft, f"torchvision {torchvision.__version__} v2.{type(t).__name__}"
    onehot = torch.nn.functional.one_hot(labels, k).float()
    if kind == "mixup":
        out = x.roll(1, 0).mul_(1.0 - lam).add_(x.mul(lam))
    else:
        H, W = x.shape[-2:]
        r = 0.5 * math.sqrt(1.0 - lam)
        rw, rh = int(r * W), int(r * H)
        x1, y1 = max(r_x - rw, 0), max(r_y - rh, 0)
        x2, y2 = min(r_x + rw, W), min(r_y + rh, H)
        out = x.clone()
        out[..., y1:y2, x1:x2] = x.roll(1, 0)[..., y1:y2, x1:x2]
        lam = float(1.0 - (x2 - x1) * (y2 - y1) / (W * H))
    soft = onehot.roll(1, 0).mul_(1.0 - lam).add_(onehot.mul(lam))
    return out, soft, f"torchvision {torchvision.__version__} has no v2.MixUp: its formulas"


def ks_statistic(a, b):
    """Two-sample Kolmogorov-Smirnov D."""
    a, b = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    while i < len(a) and j < len(b):
        v = min(a[i], b[j])
        while i < len(a) and a[i] <= v:
            i += 1
        while j < len(b) and b[j] <= v:
            j += 1
        d = max(d, abs(i / len(a) - j / len(b)))
    return d


def group_mix(tmp):
    tool = os.path.join(os.path.dirname(BIN), "tests", "data_tool")
    n, S, K = 5, 17, 4
    torch.manual_seed(0)
    x = torch.randn(n, 3, S, S)
    labels = torch.tensor([0, 3, 1, 1, 2])
    for kind, lam, rx, ry in (("mixup", 0.3721, 0, 0), ("cutmix", 0.61, 4, 15), ("cutmix", 0.05, 0, 0),
                              ("cutmix", 0.999, 8, 8)):
        want, soft, how = torchvision_mix(kind, x, labels, K, lam, rx, ry)
        for fmt in ("nchw", "nhwc"):
            src, dst = os.path.join(tmp, "x.raw"), os.path.join(tmp, "y.raw")
            arr = x if fmt == "nchw" else x.permute(0, 2, 3, 1).contiguous()
            arr.numpy().tofile(src)
            p = subprocess.run([tool, "mix", src, dst, fmt, str(S), str(n), kind, repr(lam), str(rx), str(ry)],
                               capture_output=True, text=True)
            got = torch.from_numpy(__import__("numpy").fromfile(dst, dtype="float32")) if p.returncode == 0 else None
            if got is not None:
                got = got.reshape(n, 3, S, S) if fmt == "nchw" else got.reshape(n, S, S, 3).permute(0, 3, 1, 2)
            our_lam = float(p.stdout.split()[0]) if p.returncode == 0 else -1
            ours_soft = torch.nn.functional.one_hot(labels, K).float() * our_lam + \
                torch.nn.functional.one_hot(labels.roll(1, 0), K).float() * (1 - our_lam)
            diff = float((got - want).abs().max()) if got is not None else 1.0
            check(got is not None and diff <= 1e-6 and float((ours_soft - soft).abs().max()) <= 1e-6,
                  f"{kind} lam {lam} centre ({rx}, {ry}) {fmt}: images to {diff:.1e} and soft targets (lam "
                  f"{our_lam:.6f}) as {how} (rc={p.returncode}) {p.stderr[-200:]}")

    # the draws: Beta(a, a) against torch's (what v2.MixUp samples), CutMix's lam against torchvision's draws
    def draws(mixup, cutmix, count, S=64, seed=7):
        p = subprocess.run([tool, "mix-draw", str(mixup), str(cutmix), str(S), str(seed), str(count)],
                           capture_output=True, text=True)
        return [(w[0], float(w[1])) for w in (l.split() for l in p.stdout.splitlines())]
    m = 4000
    limit = 1.95 * math.sqrt(2 / m)   # two-sample KS at the 0.1% level
    torch.manual_seed(1)
    for alpha in (0.2, 1.0, 4.0):
        ours = [lam for _, lam in draws(alpha, 0, m)]
        theirs = torch.distributions.Beta(torch.tensor([alpha]), torch.tensor([alpha])).sample((m,)).flatten().tolist()
        d = ks_statistic(ours, theirs)
        check(d < limit, f"MixUp's lam ~ Beta({alpha}, {alpha}): KS distance to torch's {d:.4f} < {limit:.4f}")
    ours = [lam for _, lam in draws(0, 1.0, m)]
    theirs = []
    for _ in range(m):
        lam = float(torch.distributions.Beta(torch.tensor([1.0]), torch.tensor([1.0])).sample(()))
        _, soft, _ = torchvision_mix("cutmix", torch.zeros(2, 3, 64, 64), torch.tensor([0, 1]), 2, lam,
                                     int(torch.randint(64, (1,))), int(torch.randint(64, (1,))))
        theirs.append(float(soft[0, 0]))
    d = ks_statistic(ours, theirs)
    check(d < limit, f"CutMix's lam after the box (alpha 1, 64 px): KS distance to torchvision's draws {d:.4f} < "
          f"{limit:.4f}")
    both = draws(0.2, 1.0, m)
    n_mixup = sum(1 for k, _ in both if k == "mixup")
    check(abs(n_mixup - m / 2) < 4 * math.sqrt(m / 4) and all(k in ("mixup", "cutmix") for k, _ in both),
          f"with both alphas, MixUp for {n_mixup} of {m} batches (binomial 1/2: within 4 sigma of {m // 2})")

    # training: the flags in config.json, a stop and a resume bit-identical, bad values refused
    data = os.path.join(tmp, "data")
    make_dataset(data, classes=3, per_class=8, size=(40, 36))

    def train(out, extra=()):
        return ["train", "--data_dir", data, "--out", out, "--image_size", "64", "--per_batch_size", "6",
                "--max_epoch", "2", "--lr", "0.02", "--warmup_epochs", "0", "--threads", "1", "--workers", "2",
                "--seed", "3", "--log_interval", "1", "--mixup-alpha", "0.2", "--cutmix-alpha", "1.0"] + list(extra)
    ref = os.path.join(tmp, "ref")
    rc, so, se = run(train(ref))
    cfg = json.load(open(os.path.join(ref, "config.json"))) if rc == 0 else {}
    check(rc == 0 and cfg.get("mixup_alpha") == 0.2 and cfg.get("cutmix_alpha") == 1.0,
          f"train --mixup-alpha 0.2 --cutmix-alpha 1.0 (torchvision's spellings): in config.json (rc={rc}) {se[-300:]}")
    stop = os.path.join(tmp, "stop")
    rc, so, se = run(train(stop, ["--max_steps", "3"]))
    rc2, so2, se2 = run(["train", "--resume", stop])
    check(rc == 0 and rc2 == 0 and tensors_equal(os.path.join(ref, "last.safetensors"),
                                                 os.path.join(stop, "last.safetensors")),
          f"stopped at step 3 and resumed: bit-identical to the uninterrupted run ({rc}, {rc2}) {se2[-300:]}")
    plain = os.path.join(tmp, "plain")
    rc, so, se = run(train(plain, ["--mixup_alpha", "0", "--cutmix_alpha", "0"]))
    check(rc == 0 and not tensors_equal(os.path.join(ref, "last.safetensors"), os.path.join(plain, "last.safetensors")),
          f"0 turns both off, and mixing changes the run ({rc}) {se[-300:]}")
    for flag, value in (("--mixup_alpha", "-0.5"), ("--cutmix_alpha", "nan"), ("--mixup_alpha", "1e9")):
        rc, so, se = run(train(os.path.join(tmp, "bad"), [flag, value]))
        check(rc == 2 and flag in se.splitlines()[0], f"{flag} {value}: refused naming the flag ({rc}) {se[:200]}")


def group_autoaugment(tmp):
    """--auto-augment and --flip in training: config.json, resume, the run changes, bad values refused (the ops and
    the draws against torchvision: tests/data/data_autoaugment.py; the flip modes' draws: test_data_loader)"""
    data = os.path.join(tmp, "data")
    make_dataset(data, classes=3, per_class=8, size=(40, 36))

    def train(out, extra=()):
        return ["train", "--data_dir", data, "--out", out, "--image_size", "64", "--per_batch_size", "6",
                "--max_epoch", "2", "--lr", "0.02", "--warmup_epochs", "0", "--threads", "1", "--workers", "2",
                "--seed", "3", "--log_interval", "1"] + list(extra)
    runs = {}
    for policy, extra in (("ta_wide", []), ("ra", ["--ra-magnitude", "15"]), ("imagenet", ["--aa_interpolation", "nearest"]),
                          ("none", [])):
        out = os.path.join(tmp, policy)
        rc, so, se = run(train(out, ["--auto-augment", policy] + extra))
        cfg = json.load(open(os.path.join(out, "config.json"))) if rc == 0 else {}
        want_mag = 15 if policy == "ra" else 9
        want_interp = "nearest" if policy == "imagenet" else "bilinear"
        check(rc == 0 and cfg.get("auto_augment") == policy and cfg.get("ra_magnitude") == want_mag and
              cfg.get("aa_interpolation") == want_interp,
              f"train --auto-augment {policy} {' '.join(extra)} (torchvision's spelling): in config.json "
              f"(rc={rc}) {se[-300:]}")
        runs[policy] = os.path.join(out, "last.safetensors")
    check(all(os.path.exists(p) for p in runs.values()) and
          not any(tensors_equal(runs["none"], runs[p]) for p in ("ta_wide", "ra", "imagenet")),
          "each policy changes the run (its weights differ from --auto-augment none's)")
    stop = os.path.join(tmp, "stop")
    rc, so, se = run(train(stop, ["--auto_augment", "ta_wide", "--max_steps", "3"]))
    rc2, so2, se2 = run(["train", "--resume", stop])
    check(rc == 0 and rc2 == 0 and tensors_equal(runs["ta_wide"], os.path.join(stop, "last.safetensors")),
          f"stopped at step 3 and resumed: bit-identical to the uninterrupted run ({rc}, {rc2}) {se2[-300:]}")
    # --flip alternate: epoch 0 is random's, epoch 1 each image the other way round, so the 2-epoch run differs
    alt = os.path.join(tmp, "alternate")
    rc, so, se = run(train(alt, ["--flip", "alternate"]))
    cfg = json.load(open(os.path.join(alt, "config.json"))) if rc == 0 else {}
    check(rc == 0 and cfg.get("flip") == "alternate" and
          not tensors_equal(runs["none"], os.path.join(alt, "last.safetensors")),
          f"train --flip alternate: in config.json, the run changes (rc={rc}) {se[-300:]}")
    stop = os.path.join(tmp, "stop_alt")
    rc, so, se = run(train(stop, ["--flip", "alternate", "--max_steps", "6"]))
    rc2, so2, se2 = run(["train", "--resume", stop, "--flip", "random"])
    cfg = json.load(open(os.path.join(stop, "config.json"))) if rc2 == 0 else {}
    check(rc == 0 and rc2 == 0 and cfg.get("flip") == "alternate" and
          tensors_equal(os.path.join(alt, "last.safetensors"), os.path.join(stop, "last.safetensors")),
          f"--flip alternate stopped in epoch 2 and resumed (a --flip given on resume is ignored): bit-identical "
          f"({rc}, {rc2}) {se2[-300:]}")
    for flag, value in (("--auto-augment", "augmix"), ("--auto_augment", "TA_WIDE"), ("--ra-magnitude", "31"),
                        ("--ra_magnitude", "-1"), ("--aa_interpolation", "bicubic"), ("--flip", "sometimes")):
        rc, so, se = run(train(os.path.join(tmp, "bad"), [flag, value]))
        name = flag.lstrip("-").replace("-", "_")
        check(rc == 2 and name in se.splitlines()[0] and not os.path.exists(os.path.join(tmp, "bad", "config.json")),
              f"{flag} {value}: refused naming the flag ({rc}) {se[:200]}")


def group_progressive(tmp):
    """--progressive_min_size (issue 26): the sizes each step trained at follow the ramp config.json states; a
    stop at the switch and one before it, resumed, are bit-identical to the uninterrupted run; the model files keep
    --image_size; under a time budget (test clock) the plan is what the steps' relative costs fit; bad values
    refused (the ramp's arithmetic and the resized backend: test_progressive)"""
    data = os.path.join(tmp, "data")
    make_dataset(data, classes=3, per_class=8, size=(40, 36))  # 24 images, batch 6: 4 steps an epoch

    def train(out, extra=()):
        return ["train", "--data_dir", data, "--out", out, "--image_size", "80", "--per_batch_size", "6",
                "--max_epoch", "3", "--lr", "0.02", "--warmup_epochs", "0", "--threads", "1", "--workers", "2",
                "--seed", "3", "--log_interval", "1", "--lr_scheduler", "cosine", "--progressive_min_size", "64",
                "--progressive_start", "0.2", "--progressive_end", "0.6"] + list(extra)
    ref = os.path.join(tmp, "ref")
    rc, so, se = run(train(ref))
    cfg = json.load(open(os.path.join(ref, "config.json"))) if rc == 0 else {}
    ramp = cfg.get("progressive", {})
    steps = [json.loads(l) for l in open(os.path.join(ref, "metrics.jsonl"))] if rc == 0 else []
    sizes = [r.get("image_size") for r in steps if r["type"] == "step"]
    # 12 steps, u = i / 11: 64 while u < 0.4 (the nearer of 64 and 80), so steps 0-4, then 80
    check(rc == 0 and cfg.get("progressive_min_size") == 64 and ramp.get("sizes") == [64, 80] and
          ramp.get("first_step") == [0, 5] and sizes == [64] * 5 + [80] * 7 and "64 -> 80 px at step 5" in so,
          f"the sizes follow the ramp: config.json {ramp}, step records {sizes} (rc={rc}) {se[-300:]}")
    _, meta = st_write.load(os.path.join(ref, "last.safetensors")) if rc == 0 else ({}, {})
    check(meta.get("image_size") == "80", f"the model file keeps --image_size 80 ({meta.get('image_size')})")
    for at in (5,) if os.environ.get("ALEXNET_ASAN") else (5, 3):  # at the switch, and before it
        stop = os.path.join(tmp, f"stop{at}")
        rc, so, se = run(train(stop, ["--max_steps", str(at)]))
        rc2, so2, se2 = run(["train", "--resume", stop])
        check(rc == 0 and rc2 == 0 and tensors_equal(os.path.join(ref, "last.safetensors"),
                                                     os.path.join(stop, "last.safetensors")),
              f"stopped at step {at} and resumed: bit-identical ({rc}, {rc2}) {se2[-300:]}")
    # a time budget with the test clock: 0.5 s a full-size step (times its relative cost), 2 s an epoch end; with
    # CutMix, which cuts its box at each size
    budget = os.path.join(tmp, "budget")
    rc, so, se = run(train(budget, ["--time_budget", "20s", "--max_epoch", "100", "--cutmix_alpha", "1.0"]),
                     env={**os.environ, "ALEXNET_BUDGET_CLOCK": "0.5,2"})
    cfg = json.load(open(os.path.join(budget, "config.json"))) if rc == 0 else {}
    cost = dict(zip(cfg.get("progressive", {}).get("sizes", []), cfg.get("progressive", {}).get("relative_cost", [])))
    recs = [json.loads(l) for l in open(os.path.join(budget, "metrics.jsonl"))] if rc == 0 else []
    sizes = [r.get("image_size") for r in recs if r["type"] == "step"]
    n = cfg.get("plan", {}).get("steps", 0)
    used = sum(0.5 * cost.get(z, 99) for z in sizes) + 2 * -(-n // 4)
    more = used + 0.5 + (2 if n % 4 == 0 else 0)  # one more step at full size, and the epoch end it would open
    check(rc == 0 and len(sizes) == n and sizes[0] == 64 and sizes[-1] == 80 and 0 < cost[64] < 1 and
          used <= 20 + 1e-6 and more > 20, f"the budget's plan: {n} steps at {sizes} cost {used:.3f} of 20 s, one "
          f"more {more:.3f} ({cfg.get('progressive')}) (rc={rc}) {se[-300:]}")
    for flags, name in ((["--progressive_min_size", "48"], "progressive_min_size"),
                        (["--progressive_min_size", "80"], "progressive_min_size"),
                        (["--progressive_start", "0.7"], "progressive_start")):
        bad = os.path.join(tmp, "bad")
        rc, so, se = run(train(bad, flags))
        check(rc == 2 and name in se.splitlines()[0] and not os.path.exists(os.path.join(bad, "config.json")),
              f"{' '.join(flags)}: refused naming the flag ({rc}) {se[:200]}")


def group_class_balance(tmp):
    tool = os.path.join(os.path.dirname(BIN), "tests", "data_tool")
    data = os.path.join(tmp, "data")
    make_dataset(data, classes=3, per_class=32, size=(40, 36))
    for c, keep in ((0, 4), (1, 12)):   # classes of 4, 12 and 32 images
        d = os.path.join(data, f"class_{c}")
        for f in sorted(os.listdir(d))[keep:]:
            os.remove(os.path.join(d, f))
    n = 48

    def epoch_draws(epoch, world=1, rank=0, batch=8):
        p = subprocess.run([tool, "loader", data, "train", "2", str(batch), "16", "0", str(world), str(rank),
                            str(epoch), "0", "1"], capture_output=True, text=True)
        batches = [[tuple(map(int, t.split(":"))) for t in l.split(" idx ")[1].split()]
                   for l in p.stdout.splitlines() if l.startswith("batch ")]
        return p.returncode, batches
    counts, seen, lengths = [0, 0, 0], set(), set()
    for epoch in range(40):
        rc, batches = epoch_draws(epoch)
        flat = [s for b in batches for s in b]
        lengths.add(len(flat))
        for idx, label in flat:
            counts[label] += 1
            seen.add(idx)
    total = sum(counts)
    chi2 = sum((c - total / 3) ** 2 / (total / 3) for c in counts)
    check(lengths == {n} and chi2 < 13.8, f"--class_balance sampler: every epoch {n} draws ({lengths}), the classes "
          f"of 4, 12 and 32 images drawn {counts} times (chi-square {chi2:.1f} < 13.8, 2 dof at 0.1%)")
    small = set(range(4))   # the scan sorts class_0 first: indices 0..3
    check(small <= seen and len(seen) > 40, f"every image of the 4-image class is drawn; {len(seen)} of {n} images "
          "drawn over 40 epochs")
    rc, one = epoch_draws(3, batch=8)
    rc0, r0 = epoch_draws(3, world=2, rank=0, batch=4)
    rc1, r1 = epoch_draws(3, world=2, rank=1, batch=4)
    dealt = [a + b for a, b in zip(r0, r1)]
    check(rc == rc0 == rc1 == 0 and dealt == one, "2 ranks of batch 4 are dealt the 1-rank epoch's batches of 8")

    def train(out, extra=()):
        return ["train", "--data_dir", data, "--out", out, "--image_size", "64", "--per_batch_size", "8",
                "--max_epoch", "2", "--lr", "0.02", "--warmup_epochs", "0", "--threads", "1", "--workers", "2",
                "--seed", "3", "--log_interval", "1"] + list(extra)
    plain = os.path.join(tmp, "plain")
    rc, so, se = run(train(plain))
    check(rc == 0, f"the plain run ({rc}) {se[-300:]}")
    for mode in ("sampler", "loss"):
        ref = os.path.join(tmp, mode)
        rc, so, se = run(train(ref, ["--class_balance", mode]))
        cfg = json.load(open(os.path.join(ref, "config.json"))) if rc == 0 else {}
        recs = [json.loads(l) for l in open(os.path.join(ref, "metrics.jsonl"))] if rc == 0 else []
        check(rc == 0 and cfg.get("class_balance") == mode and recs[-1]["step"] == 2 * (n // 8) and
              not tensors_equal(os.path.join(ref, "last.safetensors"), os.path.join(plain, "last.safetensors")),
              f"--class_balance {mode}: in config.json, the epoch's length kept ({n // 8} steps), the run changed "
              f"(rc={rc}) {se[-300:]}")
        stop = os.path.join(tmp, mode + "-stop")
        rc, so, se = run(train(stop, ["--class_balance", mode, "--max_steps", "4"]))
        rc2, so2, se2 = run(["train", "--resume", stop])
        check(rc == 0 and rc2 == 0 and tensors_equal(os.path.join(ref, "last.safetensors"),
                                                     os.path.join(stop, "last.safetensors")),
              f"--class_balance {mode}: stopped at step 4 and resumed, bit-identical ({rc}, {rc2}) {se2[-300:]}")
    rc, so, se = run(train(os.path.join(tmp, "bad"), ["--class_balance", "oversample"]))
    check(rc == 2 and "--class_balance" in se.splitlines()[0] and "sampler" in se,
          f"--class_balance oversample: refused with the choices ({rc}) {se[:200]}")


def main():
    global BIN, VENV
    BIN = os.path.abspath(sys.argv[1])
    VENV = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(BIN), "tb-venv")
    run_group({"average": group_average, "per_class": group_per_class, "ra_sampler": group_ra_sampler,
               "accum": group_accum, "tensorboard": group_tensorboard, "mix": group_mix,
               "class_balance": group_class_balance, "autoaugment": group_autoaugment,
               "progressive": group_progressive}, sys.argv[2], "recipe")


if __name__ == "__main__":
    main()
