#!/usr/bin/python3
"""cli_test.py — end-to-end tests of the `alexnet` program on tiny datasets.

usage: cli_test.py ALEXNET_BINARY GROUP     (GROUP: basic | resume | checkpoints | interop | predict)

Each group is one ctest entry. Datasets are generated here with PIL (photo-like
enough for a few steps), runs use 64 px inputs so each takes seconds.
"""
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import st_write
from check import check, run_group
import cli_common
from cli_common import make_dataset, run, set_binary, tensors_equal, wait_for_step


def train_args(data, out, extra=()):
    return ["train", "--data_dir", os.path.join(data, "train"), "--val_dir", os.path.join(data, "val"),
            "--per_batch_size", "8", "--image_size", "64", "--max_epoch", "3", "--lr", "0.01",
            "--warmup_epochs", "1", "--out", out, "--log_interval", "1", "--workers", "2", "--threads", "2",
            "--seed", "7"] + list(extra)


# --- groups -------------------------------------------------------------------------------

def group_basic(tmp):
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"))
    make_dataset(os.path.join(data, "val"), per_class=5, seed=1)
    out = os.path.join(tmp, "run")
    rc, so, se = run(train_args(data, out))
    check(rc == 0, f"train exits 0 (rc={rc}) {se[-500:]}")
    check("global" in so and "steps per epoch" in so, "train prints the effective configuration")
    recs = [json.loads(x) for x in open(os.path.join(out, "metrics.jsonl"))]
    steps = [r for r in recs if r["type"] == "step"]
    epochs = [r for r in recs if r["type"] == "epoch"]
    check(len(epochs) == 3 and all("top1" in e and "top5" in e for e in epochs), "metrics.jsonl has 3 epoch records with top1/top5")
    check(all(k in steps[0] for k in ("step", "epoch", "loss", "lr", "img_s", "time")), "step records carry step/epoch/loss/lr/img_s/time")
    first = np.mean([s["loss"] for s in steps[:3]])
    last = np.mean([s["loss"] for s in steps[-3:]])
    check(last < first, f"loss goes down ({first:.3f} -> {last:.3f})")
    svg = open(os.path.join(out, "curves.svg")).read()
    import xml.etree.ElementTree as ET
    check(ET.fromstring(svg.encode()).tag.endswith("svg") and "polyline" in svg, "curves.svg written, well-formed XML")
    for f in ("last.safetensors", "best.safetensors", "train_state.safetensors", "config.json"):
        check(os.path.exists(os.path.join(out, f)), f"run dir has {f}")
    rc, so, se = run(["eval", "--data_dir", os.path.join(data, "val"), "--pretrained", os.path.join(out, "last.safetensors"), "--json"])
    res = json.loads(so) if rc == 0 else {}  # stdout is the JSON object alone (| jq works)
    check(rc == 0 and res.get("images") == 15 and 0 <= res.get("top1", -1) <= res.get("top5", -1) <= 1,
          f"eval --json prints top1/top5/images/skipped: {so.strip()[-200:]} {se[-300:]}")
    rc, so, se = run(["predict", "--pretrained", os.path.join(out, "last.safetensors"), "--json",
                      os.path.join(data, "val", "class_1", "img_000.jpg")])
    ok = rc == 0
    if ok:
        p = json.loads(so.strip().splitlines()[0])
        ok = len(p["top"]) == 3 and p["top"][0]["class"].startswith("class_") and abs(sum(t["prob"] for t in p["top"]) - 1) < 1e-5
    check(ok, f"predict --json gives class names and probabilities: {so[:300]} {se[-300:]}")
    # a second train into the same dir is refused (no lost work)
    rc, so, se = run(train_args(data, out))
    check(rc == 2 and "--resume" in se, f"training into an existing run dir is refused with a hint (rc={rc})")
    # user errors: one line + usage hint, exit 2
    tr = os.path.join(data, "train")
    for args, what, word in ((["train", "--data_dir", tr, "--bogus", "1"], "unknown flag", "--bogus"),
                             (["train", "--data_dir", tr, "--per_batch_size", "0"], "out-of-range value", "--per_batch_size"),
                             (["train", "--data_dir", tr, "--lr", "fast"], "non-numeric value", "--lr"),
                             (["train", "--data_dir", "/nonexistent/dir"], "missing folder", "/nonexistent/dir"),
                             (["train", "--data_dir", tr, "--backbone", "vgg"], "unknown backbone", "vgg"),
                             (["train", "--data_dir", tr, "--lr_scheduler", "cosine_restarts"], "unknown schedule", "cosine_restarts"),
                             (["train", "--data_dir", tr, "--per_batch_size", "64"], "batch larger than the data", "batch"),
                             (["train", "--data_dir", tr, "--pretrained", "/nonexistent.safetensors"], "missing checkpoint", "/nonexistent.safetensors"),
                             (["eval", "--data_dir", os.path.join(data, "val")], "missing --pretrained", "--pretrained"),
                             (["frobnicate"], "unknown command", "frobnicate")):
        rc, so, se = run(args)
        lines = [l for l in se.strip().splitlines() if l]
        check(rc == 2 and 1 <= len(lines) <= 2 and "error" in lines[0] and word in lines[0],
              f"{what}: exit 2 with one line naming {word} ({rc}: {se.strip()[:200]})")
    rc, so, se = run(["train", "--help"])
    check(rc == 0 and "--per_batch_size" in so and "--per-batch-size" in so or "dashes" in so, "train --help lists the flags")
    rc, so, se = run(["info"])
    check(rc == 0 and "backends" in so and "libjpeg" in so, "info prints build facts")


def group_resume(tmp):
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"))
    make_dataset(os.path.join(data, "val"), per_class=4, seed=1)
    ref = os.path.join(tmp, "ref")
    rc, so, se = run(train_args(data, ref))
    check(rc == 0, f"uninterrupted run (rc={rc}) {se[-300:]}")

    # SIGKILL at an arbitrary moment (mid-epoch, while state is saved every 2 steps), then resume
    killed = os.path.join(tmp, "killed")
    for target in (4, 8):
        if target == 4:
            proc = subprocess.Popen([cli_common.BIN] + train_args(data, killed, ["--save_every_steps", "2"]),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            proc = subprocess.Popen([cli_common.BIN, "train", "--resume", killed], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        reached = wait_for_step(os.path.join(killed, "metrics.jsonl"), target, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check(reached, f"run reached step {target} before SIGKILL")
    rc, so, se = run(["train", "--resume", killed])
    check(rc == 0 and "resuming" in so, f"resume after SIGKILL finishes (rc={rc}) {se[-300:]}")
    check(tensors_equal(os.path.join(ref, "last.safetensors"), os.path.join(killed, "last.safetensors")),
          "killed+resumed run ends bit-identical to the uninterrupted run")
    tr, _ = st_write.load(os.path.join(ref, "train_state.safetensors"))
    tk, _ = st_write.load(os.path.join(killed, "train_state.safetensors"))
    check(all((tr[k] == tk[k]).all() for k in tr if k.startswith("momentum.")), "momentum buffers bit-identical too")
    steps = [json.loads(x)["step"] for x in open(os.path.join(killed, "metrics.jsonl")) if '"step"' in x and '"type":"step"' in x]
    check(steps == sorted(set(steps)), "metrics.jsonl has no duplicated steps after resume")

    # SIGINT: saves and exits cleanly; resume finishes identically
    inter = os.path.join(tmp, "interrupted")
    proc = subprocess.Popen([cli_common.BIN] + train_args(data, inter), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_step(os.path.join(inter, "metrics.jsonl"), 5, proc)
    proc.send_signal(signal.SIGINT)
    so, se = proc.communicate(timeout=120)
    check(proc.returncode == 0 and "interrupted" in so and "--resume" in so, f"SIGINT saves and exits 0 ({proc.returncode}): {so[-200:]} {se[-200:]}")
    check(os.path.exists(os.path.join(inter, "train_state.safetensors")), "SIGINT left a resumable state")
    rc, so, se = run(["train", "--resume", inter])
    check(rc == 0 and tensors_equal(os.path.join(ref, "last.safetensors"), os.path.join(inter, "last.safetensors")),
          f"interrupted+resumed run bit-identical (rc={rc})")

    # extending a finished run with --max_epoch
    rc, so, se = run(["train", "--resume", ref, "--max_epoch", "4"])
    recs = [json.loads(x) for x in open(os.path.join(ref, "metrics.jsonl"))]
    check(rc == 0 and sum(r["type"] == "epoch" for r in recs) == 4, f"--resume --max_epoch 4 adds an epoch (rc={rc}) {se[-200:]}")
    rc, so, se = run(["train", "--resume", os.path.join(tmp, "nothing-here")])
    check(rc == 2 and "nothing to resume" in se, "resuming a non-run is a clear error")


def group_checkpoints(tmp):
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=8)
    make_dataset(os.path.join(data, "val"), per_class=2, seed=1)
    out = os.path.join(tmp, "run")
    rc, so, se = run(train_args(data, out, ["--max_epoch", "1"]))
    check(rc == 0, f"train (rc={rc}) {se[-300:]}")
    good = os.path.join(out, "last.safetensors")
    raw = open(good, "rb").read()
    val = os.path.join(data, "val")

    def expect_reject(name, content, words):
        p = os.path.join(tmp, name)
        with open(p, "wb") as f:
            f.write(content)
        rc, so, se = run(["eval", "--data_dir", val, "--pretrained", p])
        lines = [l for l in se.strip().splitlines() if l]
        check(rc == 2 and p in se and any(w in se for w in words) and len(lines) <= 3,
              f"{name}: rejected with a clear message (rc={rc}): {se.strip()[:250]}")

    n = int.from_bytes(raw[:8], "little")
    expect_reject("empty.safetensors", b"", ["too short", "not a safetensors"])
    expect_reject("truncated.safetensors", raw[: len(raw) // 2], ["outside", "truncated"])
    expect_reject("header-cut.safetensors", raw[: 8 + n // 2], ["truncated", "not a safetensors"])
    garbled = bytearray(raw)
    garbled[8:20] = b"#garbage!!#!"
    expect_reject("garbled.safetensors", bytes(garbled), ["JSON"])
    expect_reject("huge-header.safetensors", (10 ** 12).to_bytes(8, "little") + raw[8:], ["truncated", "not a safetensors"])
    # wrong shape: a model for 5 classes given to a 3-class eval set
    import torch, torchvision
    m = torchvision.models.alexnet(num_classes=5)
    p5 = os.path.join(tmp, "five.safetensors")
    st_write.save(p5, m.state_dict())
    rc, so, se = run(["eval", "--data_dir", val, "--pretrained", p5])
    check(rc == 2 and "5 classes" in se, f"checkpoint for another number of classes rejected: {se.strip()[:200]}")
    sd = m.state_dict()
    sd["features.3.weight"] = sd["features.3.weight"][:, :32]
    bad = os.path.join(tmp, "badshape.safetensors")
    st_write.save(bad, sd)
    rc, so, se = run(["predict", "--pretrained", bad, os.path.join(val, "class_0", "img_000.jpg")])
    check(rc == 2 and "features.3.weight" in se and "shape" in se, f"wrong-shape tensor named: {se.strip()[:200]}")
    sd = m.state_dict()
    del sd["classifier.4.bias"]
    miss = os.path.join(tmp, "missing.safetensors")
    st_write.save(miss, sd)
    rc, so, se = run(["predict", "--pretrained", miss, os.path.join(val, "class_0", "img_000.jpg")])
    check(rc == 2 and "classifier.4.bias" in se and "missing" in se, f"missing tensor named: {se.strip()[:200]}")
    # the good file still works and no temporary files were left
    rc, so, se = run(["eval", "--data_dir", val, "--pretrained", good])
    check(rc == 0, "the intact checkpoint still loads")
    check(not [f for f in os.listdir(out) if ".tmp." in f], "no temporary files left in the run dir")


def group_interop(tmp):
    import torch
    import torch.nn.functional as F
    import torchvision
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=8)
    out = os.path.join(tmp, "run")
    rc, so, se = run(["train", "--data_dir", os.path.join(data, "train"), "--per_batch_size", "8", "--image_size", "64",
                      "--max_epoch", "1", "--out", out, "--threads", "2"])
    check(rc == 0, f"train (rc={rc}) {se[-300:]}")
    # ours -> torchvision, strictly
    sd, meta = st_write.load(os.path.join(out, "last.safetensors"))
    m = torchvision.models.alexnet(num_classes=3)
    try:
        m.load_state_dict(sd, strict=True)
        ok = True
    except Exception as e:  # noqa: BLE001
        print(e)
        ok = False
    check(ok, "our checkpoint loads into torchvision.models.alexnet(num_classes=3) with strict=True")
    check(meta.get("backbone") == "alexnet" and json.loads(meta["classes"]) == ["class_0", "class_1", "class_2"]
          and meta.get("image_size") == "64", f"metadata: backbone, classes, image size ({meta})")

    # torchvision -> ours: a state_dict saved as safetensors without metadata; probabilities must match
    torch.manual_seed(0)
    tv = torchvision.models.alexnet(num_classes=7).eval()
    with torch.no_grad():
        for p in tv.parameters():
            p.mul_(2.0)  # make the softmax far from uniform so the comparison means something
    path = os.path.join(tmp, "tv.safetensors")
    st_write.save(path, tv.state_dict())
    # a PNG already at the eval resize size (73 = round(64*256/224)), so both sides see identical pixels
    rng = np.random.default_rng(3)
    img = (rng.random((73, 73, 3)) * 255).astype(np.uint8)
    png = os.path.join(tmp, "x.png")
    Image.fromarray(img).save(png)
    x = torch.from_numpy(img[4:68, 4:68].astype(np.float32) / 255).permute(2, 0, 1)
    x = (x - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.no_grad():
        want = F.softmax(tv(x[None]).double(), dim=1)[0]
    # fp32: compared with torchvision's float model (predict's default is bf16 where the CPU has it)
    rc, so, se = run(["predict", "--pretrained", path, "--image_size", "64", "--precision", "fp32", "--json", png])
    ok = rc == 0
    if ok:
        got = json.loads(so.strip().splitlines()[0])["top"]
        order = torch.argsort(want, descending=True)[:5].tolist()
        ok = [g["index"] for g in got] == order and all(abs(g["prob"] - want[g["index"]].item()) < 1e-4 for g in got)
        print("torchvision:", [(i, round(want[i].item(), 6)) for i in order], "\nours:       ",
              [(g["index"], round(g["prob"], 6)) for g in got])
    check(ok, f"a torchvision safetensors file loads and gives torchvision's probabilities (|diff| < 1e-4) {se[-300:]}")


def group_predict(tmp):
    """predict on folders: walked like a data folder (nested, sorted, hidden names and other
    extensions skipped), a bad file reported in its place (stderr, and {file, error} in --json), counted at
    the end, the others predicted, exit 0."""
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=8)
    out = os.path.join(tmp, "run")
    rc, so, se = run(["train", "--data_dir", os.path.join(data, "train"), "--per_batch_size", "8", "--image_size", "64",
                      "--max_epoch", "1", "--out", out, "--threads", "2", "--max_steps", "1"])
    check(rc == 0, f"train (rc={rc}) {se[-300:]}")
    photos = os.path.join(tmp, "photos")
    make_dataset(os.path.join(photos, "a", "deeper"), classes=2, per_class=3, seed=4)  # a/deeper/class_{0,1}/img_00{0,1,2}.jpg
    make_dataset(os.path.join(photos, "b"), classes=1, per_class=2, seed=5)
    open(os.path.join(photos, "b", "notes.txt"), "w").write("not an image")
    shutil.copy(os.path.join(photos, "b", "class_0", "img_000.jpg"), os.path.join(photos, "b", ".hidden.jpg"))
    open(os.path.join(photos, "b", "class_0", "broken.jpg"), "wb").write(b"\xff\xd8 not really")
    single = os.path.join(photos, "b", "class_0", "img_001.jpg")
    rc, so, se = run(["predict", "--pretrained", os.path.join(out, "last.safetensors"), "--json", photos, single])
    recs = [json.loads(l) for l in so.splitlines() if l.strip()] if so.strip() else []
    want = sorted(os.path.relpath(os.path.join(d, f), photos) for d, _, fs in os.walk(photos) for f in fs
                  if f.endswith(".jpg") and not f.startswith("."))
    got = [os.path.relpath(r["file"], photos) for r in recs]
    check(got[:-1] == want and got[-1] == os.path.relpath(single, photos),
          f"a folder gives its images in the loader's order, then the single file ({got} vs {want})")
    errors = [r for r in recs if "error" in r]
    check(len(errors) == 1 and errors[0]["file"].endswith("broken.jpg") and "top" not in errors[0] and
          all("top" in r for r in recs if r is not errors[0]),
          f"the bad file is reported in its place in --json, the others predicted ({errors})")
    check(rc == 0 and "broken.jpg" in se and "1 of 10 images could not be read" in se,
          f"the bad file is named and counted at the end, exit 0 (rc={rc}) {se.strip()[-300:]}")


def main():
    set_binary(sys.argv[1])
    run_group({"basic": group_basic, "resume": group_resume, "checkpoints": group_checkpoints,
               "interop": group_interop, "predict": group_predict}, sys.argv[2], "cli")


if __name__ == "__main__":
    main()
