#!/usr/bin/python3
"""cli_habits_test.py — end-to-end tests of the command line a new user or a
PyTorch user meets (issue 19): torchvision train.py spellings, "did you mean",
one name per idea across commands, the --threads warning, `info`, `prepare`
into used folders and with --limit, `predict --topk/--class_names`, and the
rule that --json leaves only JSON on stdout.

usage: cli_habits_test.py ALEXNET_BINARY GROUP     (GROUP: flags | outputs)
"""
import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import st_write
from check import check, run_group
from cli_common import make_dataset, run, set_binary

CORES = os.cpu_count() or 1
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def usage_error(rc, se, *words):
    lines = [l for l in se.strip().splitlines() if l]
    return rc == 2 and 1 <= len(lines) <= 2 and "error" in lines[0] and all(w in lines[0] for w in words)


def visible_flags(cmd):
    rc, so, se = run(cmd + ["--help"])
    table = so.split("\nFlags may be spelled")[0]  # the option table, not the alias list under it
    return set(re.findall(r"^  --(\w+)", table, re.M)), so


def group_flags(tmp):
    root = os.path.join(tmp, "root")  # torchvision's layout: ROOT/train, ROOT/val
    make_dataset(os.path.join(root, "train"))
    make_dataset(os.path.join(root, "val"), per_class=5, seed=1)
    out = os.path.join(tmp, "run")
    rc, so, se = run(["train", "--data-path", root, "--batch-size", "8", "--epochs", "1", "--output-dir", out,
                      "--print-freq", "1", "-j", "2", "--threads", "2", "--image_size", "64", "--lr", "0.01",
                      "--lr-warmup-epochs", "0", "--label-smoothing", "0.2", "--wd", "5e-4", "--lr-min", "0.001"])
    check(rc == 0, f"train with torchvision's spellings runs (rc={rc}) {se[-400:]}")
    cfg = json.load(open(os.path.join(out, "config.json"))) if rc == 0 else {}
    want = {"per_batch_size": 8, "max_epoch": 1, "log_interval": 1, "workers": 2, "warmup_epochs": 0,
            "label_smooth": 1, "label_smooth_factor": 0.2, "weight_decay": 5e-4, "eta_min": 0.001}
    bad = {k: cfg.get(k) for k, v in want.items() if cfg.get(k) is None or abs(float(cfg[k]) - v) > 1e-12}
    check(not bad, f"aliases set per_batch_size, max_epoch, log_interval, workers, warmup, smoothing, wd, eta_min: wrong {bad}")
    check(cfg.get("smoothing_form") == "torch", f"--label-smoothing means torch's smoothing form ({cfg.get('smoothing_form')})")
    same = lambda a, b: a and os.path.realpath(a) == os.path.realpath(b)
    check(same(cfg.get("data_dir"), os.path.join(root, "train")) and same(cfg.get("val_dir"), os.path.join(root, "val")),
          f"--data-path ROOT trains on ROOT/train and validates on ROOT/val ({cfg.get('data_dir')}, {cfg.get('val_dir')})")
    # explicit flags win over what an alias implies, whatever the order
    out2 = os.path.join(tmp, "run2")
    rc, so, se = run(["train", "--smoothing_form", "seed", "--data_dir", os.path.join(root, "train"), "--label-smoothing", "0",
                      "--per_batch_size", "8", "--image_size", "64", "--max_steps", "1", "--out", out2, "--threads", "2",
                      "--workers", "2"])
    cfg2 = json.load(open(os.path.join(out2, "config.json"))) if rc == 0 else {}
    check(rc == 0 and int(cfg2.get("label_smooth", -1)) == 0 and cfg2.get("smoothing_form") == "seed",
          f"--label-smoothing 0 turns smoothing off; an explicit --smoothing_form stays ({rc}: {cfg2.get('label_smooth')}, "
          f"{cfg2.get('smoothing_form')}) {se[-300:]}")
    check(not any(w in se for w in ("--lr 0:", "above --lr", "no longer prefers")),
          "a usual recipe draws none of the recipe warnings")
    # allowed (PyTorch allows them) but rarely meant: a warning naming the flag, and the run goes on
    for i, (extra, words) in enumerate(((["--lr", "0"], "--lr 0: every update is zero"),
                                        (["--lr", "0.01", "--eta_min", "0.5"], "--eta_min 0.5 is above --lr 0.01"),
                                        (["--label_smooth_factor", "0.7"], "--label_smooth_factor 0.7 with 3 classes"),
                                        (["--label_smooth_factor", "1", "--smoothing_form", "torch"], "no longer prefers"))):
        rc, so, se = run(["train", "--data_dir", os.path.join(root, "train"), "--per_batch_size", "8", "--image_size", "64",
                          "--max_steps", "1", "--out", os.path.join(tmp, f"warn{i}"), "--threads", "2", "--workers", "2"]
                         + extra)
        check(rc == 0 and words in se and "warning" in se, f"{' '.join(extra)}: warned, trains ({rc}) {se[-300:]}")
    ckpt = os.path.join(out, "last.safetensors")
    rc, so, se = run(["eval", "--data-path", root, "--weights", ckpt, "--batch-size", "4", "-j2", "--threads", "2", "--json"])
    res = json.loads(so) if rc == 0 else {}
    check(res.get("images") == 15, f"eval --data-path ROOT evaluates ROOT/val, --weights/-b/-j2 accepted: {so.strip()} {se[-300:]}")
    rc, so, se = run(["bench-data", "--data-path", root, "-b", "4", "-j", "1", "--batches", "1", "--image_size", "32", "--json"])
    res = json.loads(so) if rc == 0 else {}
    check(res.get("batch") == 4 and res.get("workers") == 1, f"bench-data takes --data-path, -b, -j: {so.strip()} {se[-300:]}")
    # aliases only where the command has the target flag; errors name the spelling typed
    rc, so, se = run(["bench", "--epochs", "3"])
    check(usage_error(rc, se, "--epochs"), f"bench has no epochs: --epochs is unknown there ({rc}: {se.strip()})")
    rc, so, se = run(["train", "--data_dir", root, "--batch-size", "0"])
    check(usage_error(rc, se, "--batch-size must be between"), f"an alias's bad value names the alias: {se.strip()}")
    # numbers and durations are read strictly: what strtod/strtoll would also take is refused, naming the flag
    for flag, value in (("--lr", "0x10"), ("--lr", " 0.1"), ("--per_batch_size", " 8"), ("--weight_decay", "1e-4x"),
                        ("--time_budget", "5m5m"), ("--time_budget", "12m30"), ("--time_budget", "0x10s")):
        rc, so, se = run(["train", "--data_dir", root, flag, value])
        check(usage_error(rc, se, flag), f"train {flag} '{value}': refused naming the flag ({rc}: {se.strip()[:200]})")
    rc, so, se = run(["train", "--data_dir", root, "--weights", "AlexNet_Weights.IMAGENET1K_V1"])
    check(usage_error(rc, se, "--weights", ".safetensors"), f"torchvision's weight enum names get a clear answer: {se.strip()}")
    # did you mean
    tr = os.path.join(root, "train")
    for args, want_hint in ((["train", "--data_dir", tr, "--per_batch", "8"], "did you mean --per_batch_size?"),
                            (["train", "--data_dir", tr, "--batchsize", "8"], "did you mean --per_batch_size?"),
                            (["train", "--data_dir", tr, "--max_epochs", "8"], "did you mean --max_epoch?"),
                            (["eval", "--data_dir", tr, "--pretraind", "x"], "did you mean --pretrained?"),
                            (["train", "--data_dir", tr, "-lr", "0.1"], "did you mean --lr?"),
                            (["bench-data", "--data_dir", tr, "--min-crop", "0.5"], "did you mean --min_crop_scale?"),
                            (["train", "--data_dir", tr, "--model", "alexnet"], "--backbone")):
        rc, so, se = run(args)
        check(usage_error(rc, se, want_hint), f"{' '.join(args[3:])}: exit 2 with '{want_hint}' ({se.strip()[:200]})")
    rc, so, se = run(["bench_data", "--help"])
    check(usage_error(rc, se, "did you mean 'bench-data'?"), f"a near command name is suggested ({se.strip()[:200]})")
    rc, so, se = run(["frobnicate"])
    check(usage_error(rc, se, "frobnicate") and "did you mean" not in se, "no command suggested when none is near")
    rc, so, se = run(["train", "--data_dir", tr, "--bogus", "1"])
    check(usage_error(rc, se, "--bogus") and "did you mean" not in se, f"no suggestion when nothing is close: {se.strip()}")
    # --help lists the aliases that apply
    flags, text = visible_flags(["train"])
    check("--batch-size = --per_batch_size" in text and "--label-smoothing" in text, "train --help lists torchvision's spellings")
    flags, text = visible_flags(["bench"])
    check("--batch-size = --per_batch_size" in text and "--epochs" not in text, "bench --help lists only the aliases it takes")

    # one name per idea across commands: no command shows a synonym of another's flag
    helps = {}
    for cmd in (["train"], ["eval"], ["predict"], ["bench"], ["bench-data"], ["prepare", "synthetic"],
                ["prepare", "fashion-mnist"], ["info"]):
        helps[" ".join(cmd)] = visible_flags(cmd)[0]
    everything = set().union(*helps.values())
    for group in ({"min_crop_scale", "scale_min"}, {"num_classes", "classes"}, {"per_batch_size", "batch", "batch_size"},
                  {"workers", "num_workers"}, {"pretrained", "weights", "checkpoint"}, {"data_dir", "data_path"},
                  {"max_image_pixels", "max_pixels"}):
        check(len(group & everything) <= 1, f"one name for {sorted(group)} across commands (shown: {sorted(group & everything)})")
    check("min_crop_scale" in helps["bench-data"] and "num_classes" in helps["prepare synthetic"] and "device" in helps["bench"],
          "bench-data --min_crop_scale, prepare synthetic --num_classes, bench --device")
    rc, so, se = run(["bench-data", "--data_dir", tr, "--scale_min", "0.5", "--batches", "1", "-b", "2", "--image_size", "32"])
    check(rc == 0, f"the old bench-data --scale_min still works (hidden) ({rc}: {se.strip()[:200]})")

    # --threads above the core count: one warning line, in every command that takes --threads
    many = str(CORES * 4)
    for args in (["train", "--data_dir", "/nonexistent/dir"], ["eval", "--data_dir", tr, "--pretrained", "/nonexistent.st"],
                 ["predict", "--pretrained", "/nonexistent.st", "x.jpg"], ["bench", "--backbone", "vgg"]):
        rc, so, se = run(args + ["--threads", many])
        warn = [l for l in se.splitlines() if "warning" in l and "--threads" in l]
        check(len(warn) == 1 and str(CORES) in warn[0], f"{args[0]} --threads {many} warns once ({se.strip()[:200]})")
        rc, so, se = run(args + ["--threads", str(CORES)])
        check("--threads" not in se, f"{args[0]} --threads {CORES} does not warn")


def fmnist_source(path, labels):
    os.makedirs(path, exist_ok=True)
    for prefix, y in (("train", labels), ("t10k", labels)):
        x = np.zeros((len(y), 28, 28), np.uint8)
        x[:, 8:20, 8:20] = 200
        with gzip.open(os.path.join(path, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, len(y), 28, 28) + x.tobytes())
        with gzip.open(os.path.join(path, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 0x801, len(y)) + np.asarray(y, np.uint8).tobytes())


def count_jpgs(d):
    return sum(len([f for f in fs if f.endswith(".jpg")]) for _, _, fs in os.walk(d))


def json_only(so):
    try:
        return [json.loads(l) for l in so.strip().splitlines()] if so.strip() else None
    except ValueError:
        return None


def group_outputs(tmp):
    # prepare synthetic refuses a used folder (no mixing), takes an empty one
    syn = os.path.join(tmp, "syn")
    args = ["prepare", "synthetic", "--num_classes", "3", "--per_class", "4", "--size", "64x48", "--out", syn]
    rc, so, se = run(args)
    check(rc == 0 and count_jpgs(syn) == 12, f"prepare synthetic ({rc}) {se.strip()[:200]}")
    rc, so, se = run(args[:3] + ["2"] + args[4:])
    check(usage_error(rc, se, syn, "not empty") and count_jpgs(syn) == 12,
          f"prepare synthetic into a used folder is refused and writes nothing ({rc}: {se.strip()[:200]})")
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    rc, so, se = run(args[:-1] + [empty])
    check(rc == 0 and count_jpgs(empty) == 12, f"an existing empty folder is fine ({rc})")
    # fashion-mnist --limit: every class gets images, in a file where the first labels are all 0
    labels = [0] * 100 + [i % 10 for i in range(100)]
    src = os.path.join(tmp, "fm_src")
    fmnist_source(src, labels)
    fm = os.path.join(tmp, "fm")
    rc, so, se = run(["prepare", "fashion-mnist", "--source", src, "--out", fm, "--limit", "20"])
    counts = sorted(len(os.listdir(os.path.join(fm, "train", c))) for c in os.listdir(os.path.join(fm, "train"))) if rc == 0 else []
    check(rc == 0 and counts == [2] * 10, f"--limit 20 gives each of the 10 classes 2 images ({rc}: {counts}) {se.strip()[:200]}")
    rc, so, se = run(["prepare", "fashion-mnist", "--source", src, "--out", os.path.join(tmp, "fm5"), "--limit", "5"])
    check(usage_error(rc, se, "--limit"), f"--limit below the class count is a clear error ({se.strip()[:200]})")

    # predict: --topk, --class_names, on a torchvision checkpoint without metadata
    import torch
    import torchvision
    torch.manual_seed(0)
    tv = torchvision.models.alexnet(num_classes=4).eval()
    ckpt = os.path.join(tmp, "tv.safetensors")
    st_write.save(ckpt, tv.state_dict())
    names = os.path.join(tmp, "names.txt")
    with open(names, "w") as f:
        f.write("cat\ndog\nbird\nfish\n")
    img = os.path.join(syn, "class_000", "img_00000.jpg")
    base = ["predict", "--pretrained", ckpt, "--image_size", "64", "--threads", "2"]
    rc, so, se = run(base + ["--json", img])
    res = json_only(so) or [{}]
    check(rc == 0 and len(res[0].get("top", [])) == 4 and res[0]["top"][0]["class"] == "",
          f"predict: default top-5 capped at the 4 classes, no names without metadata ({rc}: {so[:200]} {se[-200:]})")
    rc, so, se = run(base + ["--topk", "2", "--class_names", names, "--json", img, img])
    res = json_only(so) or [{}]
    ok = rc == 0 and len(res) == 2 and len(res[0].get("top", [])) == 2
    ok = ok and all(t["class"] == ["cat", "dog", "bird", "fish"][t["index"]] for t in res[0]["top"])
    check(ok, f"predict --topk 2 --class_names FILE: 2 named classes per image ({rc}: {so[:300]} {se[-200:]})")
    rc, so, se = run(base + ["--topk", "3", "--class_names", names, img])
    check(rc == 0 and so.count("%") == 3 and any(n in so for n in ("cat", "dog", "bird", "fish")), f"text output uses the names: {so}")
    rc, so, se = run(base + ["--topk", "5", img])
    check(usage_error(rc, se, "--topk", "4 classes"), f"--topk above the class count is refused ({se.strip()[:200]})")
    with open(names, "w") as f:
        f.write("cat\ndog\n")
    rc, so, se = run(base + ["--class_names", names, img])
    check(usage_error(rc, se, names, "2 names", "4 classes"), f"a names file of the wrong length is refused ({se.strip()[:200]})")

    # --json: stdout is JSON alone, even with warnings (--threads above the cores)
    many = str(CORES * 4)
    rc, so, se = run(base + ["--json", "--threads", many, img])
    check(rc == 0 and json_only(so) is not None and "warning" in se, f"predict --json: only JSON on stdout ({so[:200]})")
    rc, so, se = run(["bench", "--json", "--image_size", "63", "--per_batch_size", "2", "--num_classes", "10", "--steps", "1",
                      "--warmup", "0", "--profile_steps", "1", "--threads", many])
    res = json_only(so)
    check(rc == 0 and res is not None and len(res) == 1 and "train_img_s" in res[0], f"bench --json: only JSON on stdout ({so[:200]} {se[-200:]})")
    rc, so, se = run(["bench-data", "--data_dir", syn, "--json", "--batches", "1", "-b", "2", "--image_size", "32"])
    res = json_only(so)
    check(rc == 0 and res is not None and len(res) == 1 and "img_s" in res[0], f"bench-data --json: only JSON on stdout ({so[:200]})")

    # info: what a bug report needs, as text and as JSON alone
    rc, so, se = run(["info", "--json"])
    info = json.loads(so) if rc == 0 else {}
    keys = ("alexnet", "git_commit", "compiler", "os", "kernel", "backends", "onednn", "mpi", "cuda_runtime", "gpus", "cpu")
    check(all(k in info for k in keys), f"info --json has {keys}: missing {[k for k in keys if k not in info]}")
    rc, so2, se = run(["info"])
    check(rc == 0 and all(f"{k}:" in so2 for k in keys if k != "gpus") and re.search(r"^gpus:\s+\S", so2, re.M),
          "info prints the same facts as text")
    commit = info.get("git_commit", "")
    ok = commit == "unknown" or re.fullmatch(r"[0-9a-f]{12}(-dirty)?", commit)
    if ok and commit != "unknown" and shutil.which("git") and os.path.exists(os.path.join(REPO, ".git")):
        ok = subprocess.run(["git", "-C", REPO, "cat-file", "-e", commit[:12] + "^{commit}"]).returncode == 0
    check(bool(ok), f"git_commit is a commit of this repository or 'unknown' ({commit})")
    if "dnnl" in info.get("backends", ""):
        check(re.match(r"\d+\.\d+\.\d+", info.get("onednn", "")), f"oneDNN version from dnnl_version(): {info.get('onednn')}")
    check(bool(info.get("gpus")) or bool(info.get("no_gpu")), f"info lists the GPUs or says why there are none: {info.get('no_gpu')}")
    rc, so, se = run(["info", "--bogus"])
    check(usage_error(rc, se, "--bogus"), f"info --bogus is rejected with exit 2 ({rc})")


def main():
    set_binary(sys.argv[1])
    run_group({"flags": group_flags, "outputs": group_outputs}, sys.argv[2], "cli_habits")


if __name__ == "__main__":
    main()
