#!/usr/bin/python3
"""mpi_test.py — data-parallel training and evaluation over Open MPI on localhost.

usage: mpi_test.py ALEXNET_BINARY MPIEXEC GROUP   (GROUP: equivalence | eval | failure)

- equivalence: 2 ranks x batch B/2 give the same weights as 1 process x batch
  B after several steps (same data order by construction; dropout keyed by
  the global sample index). Tolerance: normalised error <= 1e-4 — only the
  order of the gradient summation differs (two half-batch sums all-reduced vs
  one sum), ~1e-7 relative per step, amplified a little by momentum.
- eval: distributed eval counts equal the single-process counts on a set of
  23 images (not a multiple of the batch 4 or of the world size 2 or 3).
- failure: killing one rank mid-step makes the job exit non-zero within 60 s,
  and the run then resumes with 2 ranks and finishes.
The harness runs as root on 2 cores, so it passes --allow-run-as-root and
--oversubscribe; users don't need them.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import torch

import st_write
from cli_test import make_dataset, check, FAILS

BIN = MPIEXEC = None


def mpirun(n, args, **kw):
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", str(n), "--mca", "btl_vader_single_copy_mechanism", "none", BIN] + args
    return cmd


def run(cmd, timeout=600):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def train_args(data, out, batch, extra=()):
    return ["train", "--data_dir", os.path.join(data, "train"), "--per_batch_size", str(batch), "--image_size", "64",
            "--max_epoch", "2", "--lr", "0.02", "--warmup_epochs", "0.5", "--out", out, "--log_interval", "1",
            "--workers", "1", "--threads", "1", "--seed", "3", "--backend", "ref"] + list(extra)


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def group_equivalence(tmp):
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=8)
    one, two = os.path.join(tmp, "one"), os.path.join(tmp, "two")
    rc, so, se = run([BIN] + train_args(data, one, 8))
    check(rc == 0, f"1 process x batch 8 (rc={rc}) {se[-300:]}")
    rc, so, se = run(mpirun(2, train_args(data, two, 4)))
    check(rc == 0, f"2 ranks x batch 4 (rc={rc}) {se[-500:]}")
    check("4 per process x 2 processes = 8 global" in so, "the global batch is printed")
    a, _ = st_write.load(os.path.join(one, "last.safetensors"))
    b, _ = st_write.load(os.path.join(two, "last.safetensors"))
    worst = max(rel_err(b[k], a[k]) for k in a)
    check(worst <= 1e-4, f"same weights after 12 steps (worst normalised error {worst:.2e})")
    m1 = [json.loads(x) for x in open(os.path.join(one, "metrics.jsonl"))]
    m2 = [json.loads(x) for x in open(os.path.join(two, "metrics.jsonl"))]
    check(len(m1) == len(m2) and all(abs(x["loss"] - y["loss"]) < 1e-4 * abs(x["loss"]) for x, y in zip(m1, m2)),
          "the same loss at every step")


def group_eval(tmp):
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=4)
    make_dataset(os.path.join(data, "val"), classes=3, per_class=8, seed=5)
    os.remove(os.path.join(data, "val", "class_2", "img_007.jpg"))  # 23 images
    out = os.path.join(tmp, "run")
    rc, so, se = run([BIN] + train_args(data, out, 4, ["--max_epoch", "1"]))
    check(rc == 0, f"train a model (rc={rc})")
    args = ["eval", "--data_dir", os.path.join(data, "val"), "--pretrained", os.path.join(out, "last.safetensors"),
            "--per_batch_size", "4", "--json", "--backend", "ref", "--threads", "1", "--workers", "1"]
    rc, so, se = run([BIN] + args)
    single = json.loads(so.strip().splitlines()[-1]) if rc == 0 else None
    check(single is not None and single["images"] == 23, f"single-process eval counts 23 images: {so[-200:]} {se[-200:]}")
    for n in (2, 3):
        rc, so, se = run(mpirun(n, args))
        res = json.loads(so.strip().splitlines()[-1]) if rc == 0 else None
        check(res == single, f"{n} ranks: the same counts ({res} vs {single}) {se[-300:]}")
        check(so.count("top-1") == 1, f"{n} ranks: only rank 0 prints")


def group_failure(tmp):
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=16)
    out = os.path.join(tmp, "run")
    proc = subprocess.Popen(mpirun(2, train_args(data, out, 4, ["--max_epoch", "3", "--save_every_steps", "3"])),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    metrics = os.path.join(out, "metrics.jsonl")
    t0 = time.time()
    while time.time() - t0 < 300 and proc.poll() is None:
        if os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 5:
            break
        time.sleep(0.1)
    # the ranks are alexnet processes in mpirun's session; kill rank 1's
    pids = subprocess.run(["pgrep", "-s", str(os.getpgid(proc.pid)), "-f", "alexnet train"], capture_output=True, text=True).stdout.split()
    pids = [int(p) for p in pids if int(p) != proc.pid]
    check(len(pids) >= 2, f"found the rank processes {pids}")
    if pids:
        os.kill(max(pids), signal.SIGKILL)
    t_kill = time.time()
    try:
        out_text, _ = proc.communicate(timeout=60)
        elapsed = time.time() - t_kill
        check(proc.returncode != 0, f"job exits non-zero after a rank dies (rc={proc.returncode}, {elapsed:.1f} s)")
    except subprocess.TimeoutExpired:
        os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        proc.communicate()
        check(False, "job did not stop within 60 s after a rank died")
    rc, so, se = run(mpirun(2, ["train", "--resume", out]))
    check(rc == 0 and "resuming" in so, f"resume with 2 ranks after the kill finishes (rc={rc}) {se[-300:]}")
    recs = [json.loads(x) for x in open(metrics)]
    check(sum(r["type"] == "epoch" for r in recs) == 3, "all 3 epochs recorded after the resume")


def main():
    global BIN, MPIEXEC
    BIN, MPIEXEC, group = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.environ.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    tmp = tempfile.mkdtemp(prefix=f"alexnet-mpi-{group}-")
    try:
        {"equivalence": group_equivalence, "eval": group_eval, "failure": group_failure}[group](tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILS:
        print(f"{len(FAILS)} check(s) FAILED")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
