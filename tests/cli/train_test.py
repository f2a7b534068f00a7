#!/usr/bin/python3
"""train_test.py — end-to-end tests of a training run's contract and outputs.

usage: train_test.py ALEXNET_BINARY GROUP   (GROUP: contract | resume | outputs | help | finetune | freeze | ema | pack |
       precision)

- contract: the saved configuration goes through the same range checks as the
  flags; the run fingerprint (global batch, data, classes) is checked on
  resume with a message naming both values and the flag that overrides it;
  one-class data, a validation folder with a class the training data lacks,
  warmup longer than the run, the linear-scaling note.
- resume: --max_steps stops one session and the printed command continues the
  run; a stop on an epoch's last batch leaves no empty epoch and no lost
  epoch record, and ends bit-identical to the uninterrupted run; --resume
  takes the state file; relative data paths and moved data; divergence names
  the step the progress line showed.
- outputs: metrics.jsonl is strict JSON on every line (no NaN) with epochs
  counted from 1, train top-1 and validation loss; config.json is the
  effective typed configuration; curves.svg is well-formed XML for any folder
  name; --save_best 0.
- help: every default `train --help` prints is the one a run uses, and every
  setting the run saves is a flag there.
- finetune: --pretrained made for other classes loads all but the last layer.
- freeze: --freeze features / backbone and --lr_backbone_scale: frozen tensors
  bit-identical after training (and after a resume), the rest trains, the loss
  falls, the result loads in torchvision strictly; bad values are refused.
- ema: --model_ema by hand-computed values, resumed bit for bit (after stops and
  after SIGKILL), evaluated and plotted.
- pack: a run from a pack file resumed mid-epoch ends bit-identical; a pack of
  images within its bound trains like its folder; the folder can't resume it.
- precision: a bf16 run stopped and resumed ends bit-identical to the
  uninterrupted one and keeps bf16 when --precision fp32 is given on resume
  (named as ignored); with oneDNN capped below native bf16
  (ONEDNN_MAX_CPU_ISA=AVX512_CORE / AVX2) the default is fp32, printed, stored,
  and bench's per-layer table is all fp32; a bad --precision is one line, exit 2.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import st_write
from check import check, run_group
from cli_common import make_dataset, tensors_equal, wait_for_step

BIN = None


def run(args, cwd=None, timeout=600, env=None):
    p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                       env=None if env is None else {**os.environ, **env})
    return p.returncode, p.stdout, p.stderr


def base_args(train, out, extra=()):
    return ["train", "--data_dir", train, "--per_batch_size", "8", "--image_size", "64", "--max_epoch", "2",
            "--lr", "0.01", "--warmup_epochs", "0", "--out", out, "--log_interval", "1", "--workers", "2",
            "--threads", "2", "--seed", "5"] + list(extra)


def strict_json_lines(path):
    """Parses every line with NaN/Infinity refused (Python's json accepts them by default)."""
    def refuse(c):
        raise ValueError(f"non-JSON constant {c}")
    return [json.loads(line, parse_constant=refuse) for line in open(path) if line.strip()]


def edit_state(path, config=None, run=None):
    """Rewrites train_state.safetensors with the saved configuration or run record changed."""
    tensors, meta = st_write.load(path)
    if config:
        c = json.loads(meta["config"])
        c.update(config)
        meta["config"] = json.dumps(c)
    if run:
        r = json.loads(meta["run"])
        r["fingerprint"].update(run)
        meta["run"] = json.dumps(r)
    st_write.save(path, tensors, meta)


def one_line_error(rc, se, words, what):
    lines = [l for l in se.strip().splitlines() if l and "note:" not in l]
    check(rc == 2 and lines and "error" in lines[0] and all(w in lines[0] for w in words),
          f"{what}: exit 2, one line naming {words} ({rc}: {se.strip()[:400]})")


def group_contract(tmp):
    train = os.path.join(tmp, "train")
    make_dataset(train, per_class=8)
    out = os.path.join(tmp, "run")
    rc, so, se = run(base_args(train, out, ["--max_epoch", "1"]))
    check(rc == 0, f"a short run (rc={rc}) {se[-300:]}")
    state = os.path.join(out, "train_state.safetensors")
    saved = dict(st_write.load(state)[1])

    # the saved configuration is validated like the flags
    for field, value, word in (("log_interval", 0, "log_interval"), ("per_batch_size", -3, "per_batch_size"),
                               ("lr_scheduler", "cosine_restarts", "cosine_restarts"), ("momentum", 7, "momentum"),
                               ("max_image_pixels", 1e300, "max_image_pixels"), ("T_max", 2.5, "T_max")):
        edit_state(state, config={field: value})
        rc, so, se = run(["train", "--resume", out, "--max_epoch", "2"])
        one_line_error(rc, se, [word], f"a saved {field}={value} is refused on resume")
        st_write.save(state, *st_write.load(state)[:1], saved)

    # a different global batch: named, with the --per_batch_size that keeps it
    gb = os.path.join(tmp, "gb")
    rc, so, se = run(base_args(train, gb, ["--max_epoch", "1", "--per_batch_size", "16"]))
    rc, so, se = run(["train", "--resume", gb, "--max_epoch", "2", "--per_batch_size", "8"])
    one_line_error(rc, se, ["16", "8", "--per_batch_size 16"], "resuming with another global batch")
    # as a 2 x 8 run would have saved it
    edit_state(os.path.join(gb, "train_state.safetensors"), config={"per_batch_size": 8}, run={"world_size": 2})
    rc, so, se = run(["train", "--resume", gb, "--max_epoch", "2"])
    one_line_error(rc, se, ["16", "--per_batch_size 16"], "resuming a 2-process run with 1 process")
    rc, so, se = run(["train", "--resume", gb, "--max_epoch", "2", "--per_batch_size", "16"])
    check(rc == 0, f"--per_batch_size keeping the global batch is accepted (rc={rc}) {se[-300:]}")

    # the training data changed: refused, --allow_data_change continues
    os.remove(os.path.join(train, "class_1", "img_003.jpg"))
    rc, so, se = run(["train", "--resume", out, "--max_epoch", "2"])
    one_line_error(rc, se, ["23", "24", "--allow_data_change"], "resuming on data with a file less")
    rc, so, se = run(["train", "--resume", out, "--max_epoch", "2", "--allow_data_change"])
    check(rc == 0, f"--allow_data_change continues the run (rc={rc}) {se[-300:]}")
    os.rename(os.path.join(train, "class_2"), os.path.join(train, "class_9"))
    rc, so, se = run(["train", "--resume", out, "--max_epoch", "3", "--allow_data_change"])
    one_line_error(rc, se, ["classes"], "resuming on data whose classes changed (no override)")

    # one class; a validation class the training data lacks; a subset is fine
    one = os.path.join(tmp, "one")
    make_dataset(one, classes=1, per_class=8)
    rc, so, se = run(base_args(one, os.path.join(tmp, "r1")))
    one_line_error(rc, se, ["one class", one], "a one-class dataset")
    t3, v2, v4 = os.path.join(tmp, "t3"), os.path.join(tmp, "v2"), os.path.join(tmp, "v4")
    make_dataset(t3, per_class=8)
    make_dataset(v2, classes=2, per_class=3, seed=2)
    make_dataset(v4, classes=4, per_class=2, seed=2)
    rc, so, se = run(base_args(t3, os.path.join(tmp, "r2"), ["--val_dir", v4]))
    one_line_error(rc, se, ["class_3"], "a validation class the training data lacks")
    r3 = os.path.join(tmp, "r3")
    rc, so, se = run(base_args(t3, r3, ["--val_dir", v2, "--max_epoch", "1"]))
    epochs = [r for r in strict_json_lines(os.path.join(r3, "metrics.jsonl")) if r["type"] == "epoch"] if rc == 0 else []
    check(rc == 0 and epochs and epochs[0]["val_images"] == 6, f"a validation folder with a subset of the classes "
          f"trains and evaluates (rc={rc}) {se[-300:]}")

    # warnings and notes that change what a user does
    rc, so, se = run(base_args(t3, os.path.join(tmp, "r4"), ["--warmup_epochs", "5", "--max_epoch", "1"]))
    check(rc == 0 and "warmup" in se and "never reaches" in se, f"warmup longer than the run is said ({se[-300:]})")
    check("linear-scaling" in so, f"lr 0.01 at a global batch of 8 gets the linear-scaling note ({so[:800]})")
    rc, so, se = run(base_args(t3, os.path.join(tmp, "r5"), ["--lr", "0.0005", "--max_epoch", "1"]))
    check(rc == 0 and "linear-scaling" not in so, "an lr near the scaled seed value gets no note")


MAXRSS = """
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True)
print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_kb(args):
    """The exit status and peak resident memory (KB) of the program run alone in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MAXRSS, BIN] + args, capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1])


def peak_resume_memory(train, tmp):
    """A resume reads its state once, tensors straight into their buffers: its peak memory is the fresh run's
    (it was 31% above: the 456 MB state read whole, twice)."""
    out = os.path.join(tmp, "rss")
    rc1, fresh = peak_rss_kb(base_args(train, out, ["--max_steps", "1"]))
    rc2, resumed = peak_rss_kb(["train", "--resume", out, "--max_steps", "2"])
    check(rc1 == 0 and rc2 == 0 and resumed <= 1.10 * fresh,
          f"resume's peak memory {resumed / 1024:.0f} MB within 10% of the fresh run's {fresh / 1024:.0f} MB "
          f"(rc {rc1} {rc2})")


def group_resume(tmp):
    train = os.path.join(tmp, "train")
    make_dataset(train, per_class=8)   # 24 images, batch 8: 3 steps per epoch
    ref = os.path.join(tmp, "ref")
    rc, so, se = run(base_args(train, ref, ["--max_epoch", "3"]))
    check(rc == 0, f"uninterrupted run (rc={rc}) {se[-300:]}")

    # --max_steps, then exactly the command printed
    ms = os.path.join(tmp, "ms")
    rc, so, se = run(base_args(train, ms, ["--max_epoch", "3", "--max_steps", "2"]))
    cont = [l for l in so.splitlines() if "Continue with:" in l]
    check(rc == 0 and cont and cont[0].endswith(f"alexnet train --resume {ms}"), f"--max_steps prints how to continue: {so[-300:]}")
    peak_resume_memory(train, tmp)
    rc, so, se = run(["train", "--resume", ms])
    state = st_write.load(os.path.join(ms, "train_state.safetensors"))[1]
    check(rc == 0 and state["step"] == "9" and "done: 3 epochs" in so,
          f"the printed command continues the run to its end (step {state.get('step')}, rc={rc}) {so[-300:]}")
    check(tensors_equal(os.path.join(ref, "last.safetensors"), os.path.join(ms, "last.safetensors")),
          "a --max_steps stop + resume ends bit-identical to the uninterrupted run")

    # a stop on an epoch's last batch (step 3 of 3), and --max_steps on resume stops exactly there
    eb = os.path.join(tmp, "eb")
    rc, so, se = run(base_args(train, eb, ["--max_epoch", "3", "--max_steps", "3"]))
    recs = strict_json_lines(os.path.join(eb, "metrics.jsonl"))
    check(rc == 0 and [r["epoch"] for r in recs if r["type"] == "epoch"] == [1], f"a stop at an epoch's last batch still "
          f"writes that epoch's record ({[(r['type'], r['epoch']) for r in recs]})")
    rc, so, se = run(["train", "--resume", os.path.join(eb, "train_state.safetensors"), "--max_steps", "5"])
    state = st_write.load(os.path.join(eb, "train_state.safetensors"))[1]
    check(rc == 0 and state["step"] == "5", f"--resume (given the state file) --max_steps 5 stops at step 5, not 6 "
          f"(step {state.get('step')}) {se[-200:]}")
    rc, so, se = run(["train", "--resume", eb, "--max_steps", "5"])
    state = st_write.load(os.path.join(eb, "train_state.safetensors"))[1]
    check(rc == 0 and state["step"] == "5" and "nothing to train" in so, f"resuming at --max_steps trains no step ({so[-200:]})")
    rc, so, se = run(["train", "--resume", eb])
    recs = strict_json_lines(os.path.join(eb, "metrics.jsonl"))
    ep = [r for r in recs if r["type"] == "epoch"]
    check(rc == 0 and [r["epoch"] for r in ep] == [1, 2, 3] and all(r["loss"] is not None for r in recs),
          f"after the resumes: epochs 1, 2, 3 once each, no null loss ({[(r['epoch'], r['loss']) for r in ep]})")
    ref_ep = [r for r in strict_json_lines(os.path.join(ref, "metrics.jsonl")) if r["type"] == "epoch"]
    check([r["loss"] for r in ep] == [r["loss"] for r in ref_ep] and
          [r["train_top1"] for r in ep] == [r["train_top1"] for r in ref_ep],
          "epoch records after stops and resumes equal the uninterrupted run's (running sums saved)")
    check(tensors_equal(os.path.join(ref, "last.safetensors"), os.path.join(eb, "last.safetensors")),
          "stopped at an epoch end and resumed: bit-identical weights")

    # relative data path; resume from another directory; data moved and named again
    rel = os.path.join(tmp, "rel")
    os.makedirs(rel)
    shutil.copytree(train, os.path.join(rel, "data"))
    rc, so, se = run(base_args("data", "run", ["--max_epoch", "1"]), cwd=rel)
    cfg = json.load(open(os.path.join(rel, "run", "config.json"))) if rc == 0 else {}
    check(rc == 0 and os.path.isabs(cfg.get("data_dir", "")), f"a relative --data_dir is stored absolute ({cfg.get('data_dir')})")
    rc, so, se = run(["train", "--resume", os.path.join(rel, "run"), "--max_epoch", "2"], cwd="/")
    check(rc == 0, f"resume from another working directory (rc={rc}) {se[-200:]}")
    moved = os.path.join(tmp, "moved")
    shutil.move(os.path.join(rel, "data"), moved)
    rc, so, se = run(["train", "--resume", os.path.join(rel, "run"), "--max_epoch", "3"])
    check(rc == 2 and os.path.join(rel, "data") in se, f"moved data: the old path is named ({se.strip()[:200]})")
    rc, so, se = run(["train", "--resume", os.path.join(rel, "run"), "--max_epoch", "3", "--data_dir", moved])
    check(rc == 0, f"--data_dir on resume points at the moved data (rc={rc}) {se[-200:]}")

    # divergence: the step in the message is the one the progress line showed
    dv = os.path.join(tmp, "dv")
    rc, so, se = run(base_args(train, dv, ["--lr", "1000", "--max_epoch", "1", "--label_smooth", "0"]))
    recs = strict_json_lines(os.path.join(dv, "metrics.jsonl")) if os.path.exists(os.path.join(dv, "metrics.jsonl")) else []
    last = max([r["step"] for r in recs], default=0)
    check(rc == 1 and "not finite" in se and f"at step {last + 1} " in se and "No checkpoint was saved yet" in se,
          f"divergence names the failing step {last + 1} and says no checkpoint exists yet ({se.strip()[-400:]})")


def group_outputs(tmp):
    # a folder name with XML specials, a script tag and multi-byte UTF-8, long enough to be cut
    name = ("R&D <script>alert(1)</script> \"q\" 'a' — " + "é" * 300)[:110]
    root = os.path.join(tmp, name, name, name)  # over 600 bytes: the title is cut
    train, val = os.path.join(root, "train"), os.path.join(tmp, "val")
    make_dataset(train, per_class=8)
    make_dataset(val, per_class=3, seed=1)
    out = os.path.join(tmp, "run")
    rc, so, se = run(base_args(train, out, ["--val_dir", val, "--max_epoch", "2", "--log_interval", "100"]))
    check(rc == 0, f"train (rc={rc}) {se[-300:]}")
    recs = strict_json_lines(os.path.join(out, "metrics.jsonl"))
    steps = [r for r in recs if r["type"] == "step"]
    epochs = [r for r in recs if r["type"] == "epoch"]
    check([r["epoch"] for r in epochs] == [1, 2] and [r["epoch"] for r in steps] == [1, 2],
          f"epochs count from 1; a run shorter than --log_interval still has a step record per epoch ({recs})")
    check(all(0 <= r["train_top1"] <= 1 for r in recs) and all(r["val_loss"] > 0 for r in epochs),
          "training top-1 on every record, validation loss on every epoch record")
    cfg = json.load(open(os.path.join(out, "config.json")))
    check(cfg["threads"] == 2 and cfg["backend"] in ("dnnl", "ref") and cfg["dropout"] == 0.35 and cfg["T_max"] == 2
          and cfg["precision"] in ("fp32", "bf16") and f"{cfg['backend']}, {cfg['precision']}," in so and cfg["classes"] == ["class_0", "class_1", "class_2"]
          and isinstance(cfg["per_batch_size"], int) and isinstance(cfg["max_image_pixels"], int)
          and isinstance(cfg["seed"], int) and cfg["fingerprint"]["global_batch"] == 8,
          f"config.json is the effective, typed configuration with the classes ({ {k: cfg.get(k) for k in ('threads', 'backend', 'dropout', 'T_max', 'precision', 'seed')} })")
    svg = open(os.path.join(out, "curves.svg"), encoding="utf-8").read()
    try:
        tree = ET.fromstring(svg.encode())
        ok = not any(e.tag.endswith("script") for e in tree.iter())
        title = [e.text for e in tree.iter() if e.tag.endswith("text")][0]
        ok = ok and "R&D <script>" in title
    except ET.ParseError as e:
        print(e)
        ok = False
    check(ok, "curves.svg is well-formed XML with the folder name escaped (no script element), cut on a character")
    nb = os.path.join(tmp, "nobest")
    rc, so, se = run(base_args(train, nb, ["--val_dir", val, "--max_epoch", "1", "--save_best", "0"]))
    check(rc == 0 and not os.path.exists(os.path.join(nb, "best.safetensors")) and
          os.path.exists(os.path.join(nb, "last.safetensors")), "--save_best 0 keeps no best.safetensors")
    # T_max follows --max_epoch when not given: the lr of epoch 2 of 4 is the cosine over 4 epochs
    t4 = os.path.join(tmp, "t4")
    rc, so, se = run(base_args(train, t4, ["--max_epoch", "4", "--max_steps", "4"]))
    cfg = json.load(open(os.path.join(t4, "config.json"))) if rc == 0 else {}
    lr = [r["lr"] for r in strict_json_lines(os.path.join(t4, "metrics.jsonl")) if r["type"] == "step"]
    import math
    want = 0.01 * (1 + math.cos(math.pi * 1 / 4)) / 2
    check(cfg.get("T_max") == 4 and abs(lr[3] - want) < 1e-6, f"T_max defaults to --max_epoch (T_max {cfg.get('T_max')}, "
          f"lr at step 4 {lr[3] if len(lr) > 3 else None} vs {want:.6f})")


def group_help(tmp):
    """Every default `train --help` prints is the one a run really uses: a run
    given only --data_dir (and a short length) saves its requested
    configuration in its state; each printed default must equal it (T_max 0,
    dropout -1 and precision auto are printed as such and resolved as documented)."""
    import re
    rc, so, se = run(["train", "--help"])
    printed = dict(re.findall(r"^  --(\w+) \S+ +.*\(default ([^)]*)\)$", so, re.M))
    flags = set(re.findall(r"^  --(\w+)", so, re.M))
    check(rc == 0 and len(printed) >= 25, f"train --help prints defaults ({len(printed)} found)")
    train = os.path.join(tmp, "train")
    make_dataset(train, per_class=3)
    out = os.path.join(tmp, "run")
    rc, so, se = run(["train", "--data_dir", train, "--out", out, "--max_steps", "1", "--per_batch_size", "8",
                      "--image_size", "64"])
    check(rc == 0, f"a run with defaults (rc={rc}) {se[-300:]}")
    saved = json.loads(st_write.load(os.path.join(out, "train_state.safetensors"))[1]["config"])
    unflagged = [k for k in saved if k not in flags and not (k == "out_dir" and "out" in flags)]
    check(not unflagged, f"every saved setting is a train flag (--out for out_dir): not {unflagged}")
    given = {"data_dir", "out", "max_steps", "per_batch_size", "image_size"}
    for flag, default in sorted(printed.items()):
        if flag in given or flag not in saved:
            continue
        want = saved[flag]
        if flag == "T_max":
            ok = default == "0" and want == saved["max_epoch"]   # 0: follows --max_epoch
        elif flag == "precision":
            ok = default == "auto" and want in ("fp32", "bf16")   # auto: resolved for this machine at the start
        elif isinstance(want, (int, float)):
            ok = float(default) == float(want)
        else:
            ok = default == want
        check(ok, f"--{flag}: help says {default}, a run uses {want}")
    cfg = json.load(open(os.path.join(out, "config.json")))
    check(printed.get("dropout") == "-1" and cfg["dropout"] == 0.35, "--dropout -1 resolves to the backbone's 0.35")


def group_finetune(tmp):
    """--pretrained for other classes: a 1000-class torchvision file trains on
    a 3-class folder with everything but classifier.6 loaded (with lr 0 the
    loaded tensors stay bit-identical) and classifier.6 initialised as the
    backbone's (N(0, 0.01), zero bias); a file for the same classes loads whole."""
    import torch
    import torchvision
    train = os.path.join(tmp, "train")
    make_dataset(train, per_class=8)
    torch.manual_seed(0)
    tv = torchvision.models.alexnet(num_classes=1000).state_dict()
    src = os.path.join(tmp, "tv1000.safetensors")
    st_write.save(src, tv)
    out = os.path.join(tmp, "ft")
    rc, so, se = run(base_args(train, out, ["--pretrained", src, "--max_epoch", "1", "--lr", "0", "--weight_decay", "0"]))
    check(rc == 0 and "fine-tuning" in so and "1000" in so and "its classifier.6 layer" in so,
          f"a 1000-class file fine-tunes on 3 classes and says so (rc={rc}) {so[-400:]} {se[-300:]}")
    got = st_write.load(os.path.join(out, "last.safetensors"))[0] if rc == 0 else {}
    same = all(bool((got[k] == tv[k]).all()) for k in tv if not k.startswith("classifier.6.")) if got else False
    check(same, "every tensor but classifier.6 is the file's, bit for bit (lr 0)")
    w = got.get("classifier.6.weight")
    check(w is not None and tuple(w.shape) == (3, 4096) and 0.008 < w.std().item() < 0.012
          and bool((got["classifier.6.bias"] == 0).all()), "classifier.6 is new: 3 x 4096, std ~0.01, zero bias")
    # our own 3-class file: same classes load whole; other class names re-initialise the head
    out2 = os.path.join(tmp, "ft2")
    rc, so, se = run(base_args(train, out2, ["--pretrained", os.path.join(out, "last.safetensors"), "--max_epoch", "1",
                                             "--lr", "0", "--weight_decay", "0"]))
    got2 = st_write.load(os.path.join(out2, "last.safetensors"))[0] if rc == 0 else {}
    check(rc == 0 and "fine-tuning" not in so and got2 and all(bool((got2[k] == got[k]).all()) for k in got),
          f"a file for the same classes loads whole (rc={rc}) {se[-300:]}")
    other = os.path.join(tmp, "other")
    for i, name in enumerate(("cat", "dog", "emu")):
        shutil.copytree(os.path.join(train, f"class_{i}"), os.path.join(other, name))
    rc, so, se = run(base_args(other, os.path.join(tmp, "ft3"), ["--pretrained", os.path.join(out, "last.safetensors"),
                                                              "--max_epoch", "1"]))
    check(rc == 0 and "other names" in so, f"same class count, other names: the head is replaced (rc={rc}) {so[-300:]}")


def group_freeze(tmp):
    """--freeze features from torchvision's 1000-class file on a 3-class folder: every features.* tensor is the
    file's bit for bit after 4 epochs (and after a stop and --resume, which keeps the freeze), the classifier
    changed, the loss fell, and the result loads into torchvision's AlexNet(num_classes=3) strictly.
    --freeze backbone trains only classifier.6; --lr_backbone_scale 0 leaves all but classifier.6 unchanged."""
    import torch
    import torchvision
    train = os.path.join(tmp, "train")
    make_dataset(train, per_class=8)
    torch.manual_seed(0)
    tv = torchvision.models.alexnet(num_classes=1000).state_dict()
    src = os.path.join(tmp, "tv1000.safetensors")
    st_write.save(src, tv)

    def trained(out, extra):
        rc, so, se = run(base_args(train, out, ["--pretrained", src, "--max_epoch", "4", "--lr", "0.05"] + extra))
        got = st_write.load(os.path.join(out, "last.safetensors"))[0] if rc == 0 else {}
        return rc, so, se, got

    def unchanged(got, keys):
        return bool(got) and all(bool((got[k] == tv[k]).all()) for k in keys)

    features = [k for k in tv if k.startswith("features.")]
    classifier = [k for k in tv if k.startswith("classifier.") and not k.startswith("classifier.6.")]
    out = os.path.join(tmp, "features")
    rc, so, se, got = trained(out, ["--freeze", "features"])
    check(rc == 0 and "--freeze features" in so and "less work" in so,
          f"--freeze features trains and says what it saves (rc={rc}) {so[-600:]} {se[-300:]}")
    check(unchanged(got, features), "--freeze features: every features.* tensor is the file's, bit for bit")
    check(got and all(not bool((got[k] == tv[k]).all()) for k in classifier), "the classifier's loaded layers trained")
    ep = [r["loss"] for r in strict_json_lines(os.path.join(out, "metrics.jsonl")) if r["type"] == "epoch"] if rc == 0 else []
    check(len(ep) == 4 and ep[-1] < ep[0], f"the loss falls with the features frozen: {ep}")
    cfg = json.load(open(os.path.join(out, "config.json"))) if rc == 0 else {}
    check(cfg.get("freeze") == "features" and cfg.get("lr_backbone_scale") == 1, f"config.json records the freeze: {cfg}")
    model = torchvision.models.alexnet(num_classes=3)
    try:
        model.load_state_dict(got, strict=True)
        loads = True
    except Exception as e:  # noqa: BLE001 - the message is the diagnostic
        loads = str(e)
    check(loads is True, f"the fine-tuned file loads into torchvision's AlexNet(num_classes=3) strictly: {loads}")

    # a stop and a resume keep the freeze (the flag is the run's, not the session's)
    out2 = os.path.join(tmp, "resumed")
    rc, so, se = run(base_args(train, out2, ["--pretrained", src, "--max_epoch", "4", "--lr", "0.05", "--freeze",
                                             "features", "--max_steps", "5"]))
    rc2, so2, se2 = run(["train", "--resume", out2])
    got2 = st_write.load(os.path.join(out2, "last.safetensors"))[0] if rc == 0 and rc2 == 0 else {}
    check(unchanged(got2, features) and tensors_equal(os.path.join(out, "last.safetensors"),
                                                      os.path.join(out2, "last.safetensors")),
          f"stopped at step 5 and resumed: still frozen, and bit-identical to the uninterrupted run "
          f"({rc}, {rc2}) {se2[-300:]}")

    rc, so, se, got = trained(os.path.join(tmp, "backbone"), ["--freeze", "backbone"])
    check(rc == 0 and unchanged(got, features + classifier) and not bool((got["classifier.6.weight"] == 0).all()),
          f"--freeze backbone trains only classifier.6 (rc={rc}) {se[-300:]}")
    rc, so, se, got = trained(os.path.join(tmp, "scale0"), ["--lr_backbone_scale", "0"])
    check(rc == 0 and "lr x 0" in so and unchanged(got, features + classifier),
          f"--lr_backbone_scale 0 leaves everything but the head unchanged (rc={rc}) {so[-400:]} {se[-300:]}")
    rc, so, se, got = trained(os.path.join(tmp, "scale"), ["--lr_backbone_scale", "0.1", "--freeze", "features"])
    check(rc == 0 and got and all(not bool((got[k] == tv[k]).all()) for k in classifier),
          f"--lr_backbone_scale 0.1 still trains the backbone's unfrozen layers (rc={rc})")

    for flags, words in ((["--freeze", "classifier"], ["--freeze", "classifier"]),
                         (["--lr_backbone_scale", "-1"], ["--lr_backbone_scale"])):
        rc, so, se = run(base_args(train, os.path.join(tmp, "bad"), flags))
        one_line_error(rc, se, words, " ".join(flags))


def group_pack(tmp):
    """Training from a pack file (alexnet prepare pack): stopped mid-epoch and
    resumed it ends bit-identical to the uninterrupted run from the pack, which
    equals the run from the folder (images within the bound are stored as they
    are); the pack is other data than its folder for --resume."""
    train, pack = os.path.join(tmp, "train"), os.path.join(tmp, "train.pack")
    make_dataset(train, per_class=8)   # 24 images, batch 8: 3 steps per epoch
    rc, so, se = run(["prepare", "pack", "--data_dir", train, "--out", pack])
    check(rc == 0 and "24 images in 3 classes" in so, f"prepare pack (rc={rc}) {so} {se[-300:]}")
    ref, folder, ms = (os.path.join(tmp, n) for n in ("ref", "folder", "ms"))
    rc, so, se = run(base_args(pack, ref))
    check(rc == 0 and "24 images in 3 classes" in so, f"uninterrupted run from the pack (rc={rc}) {se[-300:]}")
    rc, so, se = run(base_args(train, folder))
    check(rc == 0 and tensors_equal(os.path.join(ref, "last.safetensors"), os.path.join(folder, "last.safetensors")),
          f"the pack trains bit-identically to its folder (rc={rc})")
    rc, so, se = run(base_args(pack, ms, ["--max_steps", "4"]))   # stops mid-epoch 2
    check(rc == 0, f"stopped at step 4 (rc={rc}) {se[-300:]}")
    rc, so, se = run(["train", "--resume", ms, "--data_dir", train])
    one_line_error(rc, se, ["other files", "--allow_data_change"], "resuming a pack run with its folder")
    rc, so, se = run(["train", "--resume", ms])
    check(rc == 0 and tensors_equal(os.path.join(ref, "last.safetensors"), os.path.join(ms, "last.safetensors")),
          f"resumed mid-epoch from the pack: bit-identical to the uninterrupted run (rc={rc}) {se[-300:]}")


def group_ema(tmp):
    """--model_ema as torchvision's train.py: alpha = min(1, (1 - decay) * global batch * steps / epochs), the
    first update copies the weights, then ema += alpha * (w - ema) every --model_ema_steps steps; checked by
    hand over three steps, and a run stopped three times, or killed with SIGKILL, and resumed equals the
    uninterrupted one bit for bit (EMA too)."""
    import torch
    train, val = os.path.join(tmp, "train"), os.path.join(tmp, "val")
    make_dataset(train, per_class=8)            # 24 images, batch 8: 3 steps per epoch
    make_dataset(val, per_class=3, seed=1)
    ema_args = ["--model_ema", "--model_ema_steps", "1", "--model_ema_decay", "0.9", "--max_epoch", "2",
                "--val_dir", val, "--lr", "0.05"]
    run_dir = os.path.join(tmp, "ema")
    states = []
    for n in (1, 2, 3):
        args = base_args(train, run_dir, ema_args + ["--max_steps", str(n)]) if n == 1 else \
            ["train", "--resume", run_dir, "--max_steps", str(n)]
        rc, so, se = run(args)
        check(rc == 0, f"step {n} (rc={rc}) {se[-300:]}")
        states.append(st_write.load(os.path.join(run_dir, "train_state.safetensors")))
    alpha = min(1.0, (1 - 0.9) * 8 * 1 / 2)     # 0.4
    names = [k[len("model."):] for k in states[0][0] if k.startswith("model.")]
    want = {k: states[0][0]["model." + k].clone() for k in names}   # the first update copies
    ok = all(torch.equal(states[0][0]["ema." + k], want[k]) for k in names)
    for t in (1, 2):
        for k in names:
            e, w = want[k], states[t][0]["model." + k]
            want[k] = e + torch.tensor(alpha, dtype=torch.float32) * (w - e)
        ok = ok and all(torch.allclose(states[t][0]["ema." + k], want[k], rtol=0, atol=1e-6) for k in names)
    check(ok and states[2][1].get("ema_updates") == "3", f"EMA after 1, 2, 3 steps equals the hand-computed lerp "
          f"(alpha {alpha}; ema_updates {states[2][1].get('ema_updates')})")
    rc, so, se = run(["train", "--resume", run_dir])
    ref = os.path.join(tmp, "ref")
    rc2, so2, se2 = run(base_args(train, ref, ema_args))
    check(rc == 0 and rc2 == 0 and "EMA top-1" in so2, f"both runs finish, the EMA is evaluated ({rc}, {rc2}) {so2[-300:]}")
    a = st_write.load(os.path.join(ref, "train_state.safetensors"))[0]
    b = st_write.load(os.path.join(run_dir, "train_state.safetensors"))[0]
    check(a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a),
          "stopped three times and resumed: model, momentum and EMA bit-identical to the uninterrupted run")
    # SIGKILL mid-run (state saved every step), then --resume: the EMA too ends bit-identical
    killed = os.path.join(tmp, "killed")
    proc = subprocess.Popen([BIN] + base_args(train, killed, ema_args + ["--save_every_steps", "1"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reached = wait_for_step(os.path.join(killed, "metrics.jsonl"), 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rc, so, se = run(["train", "--resume", killed])
    c = st_write.load(os.path.join(killed, "train_state.safetensors"))[0] if rc == 0 else {}
    check(reached and rc == 0 and c.keys() == a.keys() and all(torch.equal(a[k], c[k]) for k in a),
          f"killed at step 4 and resumed: model, momentum and EMA bit-identical (reached={reached}, rc={rc}) {se[-300:]}")
    recs = strict_json_lines(os.path.join(ref, "metrics.jsonl"))
    ep = [r for r in recs if r["type"] == "epoch"]
    check(len(ep) == 2 and all(0 <= r["ema_top1"] <= r["ema_top5"] <= 1 for r in ep), "epoch records carry ema_top1/top5")
    meta = st_write.load(os.path.join(ref, "best.safetensors"))[1]
    best = max(max(r["top1"], r["ema_top1"]) for r in ep)
    check(meta.get("weights") in ("ema", "raw"), f"best.safetensors says which weights it holds ({meta.get('weights')})")
    svg = open(os.path.join(ref, "curves.svg")).read()
    check("EMA top-1" in svg and ET.fromstring(svg.encode()) is not None, "curves.svg draws the EMA")
    check(abs(best - max(r["top1"] for r in ep)) < 1e-12 or meta.get("weights") == "ema", "the better of the two is kept")


def group_precision(tmp):
    train = os.path.join(tmp, "train")
    make_dataset(train, per_class=8)   # 24 images, batch 8: 3 steps per epoch
    ref = os.path.join(tmp, "ref")
    rc, so, se = run(base_args(train, ref, ["--precision", "bf16"]))
    check(rc == 0 and "bf16" in so, f"a bf16 run (rc={rc}) {se[-300:]}")
    ms = os.path.join(tmp, "ms")
    rc, so, se = run(base_args(train, ms, ["--precision", "bf16", "--max_steps", "4"]))
    check(rc == 0, f"bf16 run stopped at step 4 (rc={rc}) {se[-300:]}")
    rc, so, se = run(["train", "--resume", ms, "--precision", "fp32"])
    cfg = json.load(open(os.path.join(ms, "config.json"))) if rc == 0 else {}
    check(rc == 0 and "ignored: --precision" in se and ", bf16," in so and cfg.get("precision") == "bf16",
          f"a bf16 run resumed with --precision fp32 stays bf16 and says the flag is ignored (rc={rc}) {se[-300:]}")
    check(tensors_equal(os.path.join(ref, "last.safetensors"), os.path.join(ms, "last.safetensors")),
          "bf16: a stop + resume ends bit-identical to the uninterrupted run")

    for isa in ("AVX512_CORE", "AVX2"):
        out = os.path.join(tmp, "isa-" + isa)
        rc, so, se = run(base_args(train, out, ["--max_epoch", "1"]), env={"ONEDNN_MAX_CPU_ISA": isa})
        cfg = json.load(open(os.path.join(out, "config.json"))) if rc == 0 else {}
        check(rc == 0 and cfg.get("precision") == "fp32" and f"{cfg.get('backend')}, fp32," in so,
              f"ONEDNN_MAX_CPU_ISA={isa}: the default precision is fp32, printed and stored ({cfg.get('precision')}) "
              f"{so[-300:]} {se[-300:]}")
        rc, so, se = run(["bench", "--image_size", "64", "--per_batch_size", "2", "--num_classes", "5", "--steps", "1",
                          "--warmup", "0", "--threads", "2", "--json"], env={"ONEDNN_MAX_CPU_ISA": isa})
        b = json.loads(so) if rc == 0 else {}
        check(b.get("precision") == "fp32" and all(l["precision"].startswith("fp32") for l in b.get("layers", [{}])),
              f"ONEDNN_MAX_CPU_ISA={isa}: bench runs fp32 in every layer ({so[-400:]} {se[-200:]})")

    rc, so, se = run(base_args(train, os.path.join(tmp, "bad"), ["--precision", "fp16"]))
    one_line_error(rc, se, ["precision", "fp16"], "train --precision fp16")
    rc, so, se = run(["bench", "--precision", "fp16"])
    one_line_error(rc, se, ["--precision"], "bench --precision fp16")


def main():
    global BIN
    BIN = os.path.abspath(sys.argv[1])
    run_group({"contract": group_contract, "resume": group_resume, "outputs": group_outputs, "help": group_help,
               "finetune": group_finetune, "freeze": group_freeze, "ema": group_ema, "pack": group_pack,
               "precision": group_precision},
              sys.argv[2], "train")


if __name__ == "__main__":
    main()
