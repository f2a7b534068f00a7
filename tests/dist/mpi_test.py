#!/usr/bin/python3
"""mpi_test.py — data-parallel training and evaluation over Open MPI on localhost.

usage: mpi_test.py ALEXNET_BINARY MPIEXEC GROUP   (GROUP: equivalence | eval | contract | failure | pack | scan)

- equivalence: 2 ranks x batch B/2 train like 1 process x batch B (same data
  order by construction; dropout keyed by the global sample index); only the
  order of the gradient summation differs. Tolerances in group_equivalence.
- eval: distributed eval counts equal the single-process counts on a set of
  23 images (not a multiple of the batch 4 or of the world size 2 or 3).
- contract: ranks whose data differ (or that fail in setup) stop the job
  with exit 2, each naming its own problem; a 2-rank run resumes with 1
  process only with the same global batch.
- failure: killing one rank mid-step makes the job exit non-zero within 60 s,
  and the run then resumes with 2 ranks and finishes.
- pack: 2 ranks training and evaluating from pack files (alexnet prepare
  pack) shard them like folders: images within the pack's size bound are
  stored as they are, so the run ends bit-identical to the same run from the
  folders, and eval counts equal; ranks given a pack and a folder (other
  data) stop with exit 2.
- scan: the ranks on one machine share one scan of the training and
  validation folders: under strace, the first rank opens the class folders
  and the second none, and the run trains (the contract group still sees a
  rank given other data).
The harness runs as root on 2 cores, so it passes --allow-run-as-root and
--oversubscribe; users don't need them.
"""
import json
import shlex
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import st_write
from check import check, run_group
from cli_common import make_dataset
from dist_common import rel_err, train_args

BIN = MPIEXEC = None


def mpirun(n, args, **kw):
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", str(n), "--mca", "btl_vader_single_copy_mechanism", "none", BIN] + args
    return cmd


def run(cmd, timeout=600):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def group_equivalence(tmp):
    """One step: the gradients (momentum after step 1 = g + wd*w) agree per
    tensor to 1e-5 (normalised max error; only the summation order differs).
    Twelve steps: trajectories can't stay equal to the last bit — a ReLU or
    max-pool input within rounding of its kink takes the other branch in one
    run and a whole gradient entry moves — so the check is on the whole update
    w12 - w0: ||d1 - d2|| / ||d1|| <= 5e-2 overall and <= 0.2 per tensor (at
    64 px a conv map is 3x3, so one flipped kink moves a bias gradient by ~1%,
    and 12 steps compound it: measured 3e-2 overall; a real bug, e.g.
    gradients summed instead of averaged or one bucket not reduced, gives ~1), and the losses
    of every step agree to 1e-3."""
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=8)
    p = lambda name: os.path.join(tmp, name)
    rc, so, se = run([BIN] + train_args(data, p("init"), 8, ["--lr", "0", "--max_steps", "1"]))
    check(rc == 0, f"initial weights (rc={rc})")
    rc1, _, se1 = run([BIN] + train_args(data, p("one1"), 8, ["--max_steps", "1"]))
    rc2, so, se2 = run(mpirun(2, train_args(data, p("two1"), 4, ["--max_steps", "1"])))
    check(rc1 == 0 and rc2 == 0, f"one step on 1 and 2 ranks ({rc1}, {rc2}) {se1[-200:]} {se2[-300:]}")
    check("4 per process x 2 processes = 8 global" in so, "the global batch is printed")
    a, _ = st_write.load(p("one1") + "/train_state.safetensors")
    b, _ = st_write.load(p("two1") + "/train_state.safetensors")
    worst = max(rel_err(b[k], a[k]) for k in a if k.startswith("momentum."))
    check(worst <= 1e-5, f"step 1: the same averaged gradient in every tensor (worst normalised error {worst:.2e})")

    # --freeze features: the frozen tensors are left out of the all-reduce; the trained ones agree as above
    fz = ["--max_steps", "1", "--freeze", "features", "--lr_backbone_scale", "0.5"]
    rc1, _, se1 = run([BIN] + train_args(data, p("f1"), 8, fz))
    rc2, so, se2 = run(mpirun(2, train_args(data, p("f2"), 4, fz)))
    check(rc1 == 0 and rc2 == 0, f"one frozen step on 1 and 2 ranks ({rc1}, {rc2}) {se1[-200:]} {se2[-300:]}")
    a, _ = st_write.load(p("f1") + "/train_state.safetensors")
    b, _ = st_write.load(p("f2") + "/train_state.safetensors")
    w0, _ = st_write.load(p("init") + "/last.safetensors")
    trained = [k for k in a if k.startswith("momentum.classifier.")]
    frozen = [k for k in a if k.startswith("momentum.features.")]
    worst = max(rel_err(b[k], a[k]) for k in trained)
    check(trained and frozen and worst <= 1e-5 and all(bool((b[k] == 0).all() and (a[k] == 0).all()) for k in frozen)
          and all(bool((b["model." + k] == w0[k]).all()) for k in w0 if k.startswith("features.")),
          f"--freeze features on 2 ranks: frozen tensors untouched, the classifier's gradient as 1 process's "
          f"(worst {worst:.2e})")

    one, two = p("one"), p("two")
    rc1, _, se1 = run([BIN] + train_args(data, one, 8))
    rc2, _, se2 = run(mpirun(2, train_args(data, two, 4)))
    check(rc1 == 0 and rc2 == 0, f"12 steps on 1 and 2 ranks ({rc1}, {rc2}) {se1[-200:]} {se2[-300:]}")
    w0, _ = st_write.load(p("init") + "/last.safetensors")
    a, _ = st_write.load(os.path.join(one, "last.safetensors"))
    b, _ = st_write.load(os.path.join(two, "last.safetensors"))
    d1 = torch.cat([(a[k] - w0[k]).flatten() for k in a])
    d2 = torch.cat([(b[k] - w0[k]).flatten() for k in a])
    rel = ((d1 - d2).norm() / d1.norm()).item()
    per = {k: (((a[k] - b[k]).norm() / (a[k] - w0[k]).norm()).item()) for k in a}
    print("  update difference per tensor:", " ".join(f"{k}={v:.1e}" for k, v in per.items()))
    check(d1.norm() > 0 and rel <= 5e-2 and max(per.values()) <= 0.2,
          f"the same update after 12 steps (relative L2 difference {rel:.2e}, worst tensor {max(per.values()):.2e})")
    m1 = [json.loads(x) for x in open(os.path.join(one, "metrics.jsonl"))]
    m2 = [json.loads(x) for x in open(os.path.join(two, "metrics.jsonl"))]
    check(len(m1) == len(m2) and all(abs(x["loss"] - y["loss"]) < 1e-3 * abs(x["loss"]) for x, y in zip(m1, m2)),
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
    single = json.loads(so) if rc == 0 else None
    check(single is not None and single["images"] == 23, f"single-process eval counts 23 images: {so[-200:]} {se[-200:]}")
    for n in (2, 3):
        rc, so, se = run(mpirun(n, args))
        res = json.loads(so) if rc == 0 else None
        check(res == single, f"{n} ranks: the same counts ({res} vs {single}) {se[-300:]}")
        check(se.count("top-1") == 1, f"{n} ranks: only rank 0 prints")


def group_pack(tmp):
    data, packs = os.path.join(tmp, "data"), os.path.join(tmp, "packs")
    make_dataset(os.path.join(data, "train"), per_class=8)
    make_dataset(os.path.join(data, "val"), classes=3, per_class=8, seed=5)
    os.remove(os.path.join(data, "val", "class_2", "img_007.jpg"))  # 23 images
    os.makedirs(packs)
    for split in ("train", "val"):
        rc, so, se = run([BIN, "prepare", "pack", "--data_dir", os.path.join(data, split), "--out",
                          os.path.join(packs, split), "--quiet"])
        check(rc == 0, f"prepare pack {split} (rc={rc}) {se[-200:]}")
    p = lambda name: os.path.join(tmp, name)
    extra = ["--max_epoch", "1", "--val_dir"]
    rc1, _, se1 = run(mpirun(2, train_args(data, p("folder"), 4, extra + [os.path.join(data, "val")])))
    rc2, so, se2 = run(mpirun(2, train_args(packs, p("pack"), 4, extra + [os.path.join(packs, "val")])))
    check(rc1 == 0 and rc2 == 0, f"2 ranks from folders and from packs ({rc1}, {rc2}) {se1[-200:]} {se2[-300:]}")
    a, _ = st_write.load(p("folder") + "/last.safetensors")
    b, _ = st_write.load(p("pack") + "/last.safetensors")
    check(a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a),
          "2 ranks from packs end bit-identical to 2 ranks from the folders")
    args = lambda v: ["eval", "--data_dir", v, "--pretrained", p("pack") + "/last.safetensors", "--per_batch_size", "4",
                      "--json", "--backend", "ref", "--threads", "1", "--workers", "1"]
    rc, so, se = run([BIN] + args(os.path.join(data, "val")))
    single = json.loads(so) if rc == 0 else None
    rc, so, se = run(mpirun(2, args(os.path.join(packs, "val"))))
    res = json.loads(so) if rc == 0 else None
    check(single is not None and single["images"] == 23 and res == single,
          f"eval of the val pack on 2 ranks counts what the folder does on 1 ({res} vs {single}) {se[-300:]}")
    # rank 1 reads the folder, rank 0 the pack: other data, stopped
    rc, so, se = run(mpmd(tmp, [train_args(packs, p("mixed"), 4), train_args(data, p("mixed"), 4)]), timeout=300)
    check(rc == 2 and "[rank 1]" in se, f"a pack on one rank and its folder on another: exit 2 (rc={rc}) {se[-400:]}")


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


def mpmd(tmp, per_rank_args):
    """Rank i runs with its own arguments (a node whose copy of the data differs). Not mpirun's MPMD
    ':' form: Debian 13's Open MPI 5.0.7 mpiexec segfaults on it (even for /bin/true), so one program,
    a shell script, picks each rank's command line by its rank."""
    fd, script = tempfile.mkstemp(prefix="mpmd-", suffix=".sh", dir=tmp)
    lines = ["#!/bin/sh", 'case "${OMPI_COMM_WORLD_RANK:-$PMIX_RANK}" in']
    for i, args in enumerate(per_rank_args):
        lines.append(f"  {i}) exec {shlex.quote(BIN)} {' '.join(shlex.quote(a) for a in args)} ;;")
    lines += ["esac", "echo 'mpmd: no rank number in the environment' >&2", "exit 3"]
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none",
            "-np", str(len(per_rank_args)), "/bin/sh", script]


def group_contract(tmp):
    """The ranks check that they agree before training, each printing its own
    problem with its rank, and end with exit 2 and no MPI_Abort; a run is
    resumed only with the global batch it was trained with."""
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=8)
    other = os.path.join(tmp, "other")
    shutil.copytree(data, other)
    os.remove(os.path.join(other, "train", "class_2", "img_005.jpg"))
    out = os.path.join(tmp, "run")
    a = train_args(data, out, 4)
    b = train_args(other, out, 4)
    rc, so, se = run(mpmd(tmp, [a, b]), timeout=300)
    check(rc == 2 and "[rank 1]" in se and "23 images" in se and "24" in se and "MPI_ABORT" not in se.upper().replace(" ", "_"),
          f"a rank whose data lacks a file: rank 1 names the difference, exit 2, no abort (rc={rc}) {se[-600:]}")
    check(not os.path.exists(os.path.join(out, "train_state.safetensors")), "nothing was trained")
    c = train_args(os.path.join(tmp, "nonexistent"), out, 4)
    rc, so, se = run(mpmd(tmp, [a, c]), timeout=300)
    check(rc == 2 and "rank 1" in se and "nonexistent" in se and "MPI_ABORT" not in se.upper().replace(" ", "_"),
          f"a setup error on rank 1 only is printed with its rank, exit 2 (rc={rc}) {se[-600:]}")
    # a 2-rank run resumed with 1 rank: refused, then continued with the same global batch
    rc, so, se = run(mpirun(2, a + ["--max_epoch", "1"]))
    check(rc == 0, f"2-rank run (rc={rc}) {se[-300:]}")
    ev = ["eval", "--pretrained", os.path.join(out, "last.safetensors"), "--per_batch_size", "4", "--json",
          "--backend", "ref", "--threads", "1", "--workers", "1", "--data_dir"]
    rc, so, se = run(mpmd(tmp, [ev + [os.path.join(data, "train")], ev + [os.path.join(other, "train")]]), timeout=300)
    check(rc == 2 and "eval [rank 1]" in se and "23 images" in se, f"distributed eval on differing data stops, rank 1 "
          f"naming it (rc={rc}) stderr: {se[-2000:]} stdout: {so[-500:]}")
    rc, so, se = run([BIN, "train", "--resume", out, "--max_epoch", "2"])
    check(rc == 2 and "global batch of 8" in se and "--per_batch_size 8" in se,
          f"resuming a 2 x 4 run with 1 process is refused naming --per_batch_size 8 ({se.strip()[:400]})")
    rc, so, se = run([BIN, "train", "--resume", out, "--max_epoch", "2", "--per_batch_size", "8"])
    check(rc == 0 and "resuming at epoch 2" in so, f"1 process x 8 continues it (rc={rc}) {se[-300:]}")


def group_scan(tmp):
    strace = shutil.which("strace")
    if not strace:
        from check import skip
        skip("no strace here (Debian's strace package): the shared scan is not checked")
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=8)
    make_dataset(os.path.join(data, "val"), per_class=3, seed=2)
    out = os.path.join(tmp, "run")
    args = train_args(data, out, 4, ["--max_epoch", "1", "--val_dir", os.path.join(data, "val")])
    script = os.path.join(tmp, "traced.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                f'exec {shlex.quote(strace)} -f -qq -e trace=openat,open -o "{tmp}/trace.${{OMPI_COMM_WORLD_RANK:-$PMIX_RANK}}" '
                f"{shlex.quote(BIN)} {' '.join(shlex.quote(a) for a in args)}\n")
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none",
           "-np", "2", "/bin/sh", script]
    rc, so, se = run(cmd)
    opened = []
    for rank in (0, 1):
        path = os.path.join(tmp, f"trace.{rank}")
        lines = open(path, errors="replace").read().splitlines() if os.path.exists(path) else []
        opened.append(sum(1 for l in lines if "O_DIRECTORY" in l and "/class_" in l and data in l))
    check(rc == 0 and opened[0] >= 6 and opened[1] == 0,
          f"2 ranks on one machine: the first opened {opened[0]} class folders (train and val: at least 6), the "
          f"second {opened[1]}; the run trained (rc={rc}) {se[-300:]}")
    # eval: the same sharing, and the counts of one process
    ev = ["eval", "--data_dir", os.path.join(data, "val"), "--pretrained", os.path.join(out, "last.safetensors"),
          "--per_batch_size", "2", "--json", "--backend", "ref", "--threads", "1", "--workers", "1"]
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                f'exec {shlex.quote(strace)} -f -qq -e trace=openat,open -o "{tmp}/etrace.${{OMPI_COMM_WORLD_RANK:-$PMIX_RANK}}" '
                f"{shlex.quote(BIN)} {' '.join(shlex.quote(a) for a in ev)}\n")
    rc, so, se = run(cmd)
    rc1, so1, se1 = run([BIN] + ev)
    opened = []
    for rank in (0, 1):
        path = os.path.join(tmp, f"etrace.{rank}")
        lines = open(path, errors="replace").read().splitlines() if os.path.exists(path) else []
        opened.append(sum(1 for l in lines if "O_DIRECTORY" in l and "/class_" in l and data in l))
    try:
        two, one = json.loads(so.strip().splitlines()[-1]), json.loads(so1.strip().splitlines()[-1])
    except (ValueError, IndexError):
        two, one = {}, None
    check(rc == 0 and opened[0] >= 3 and opened[1] == 0 and two.get("images") == 9 and
          {k: two.get(k) for k in ("images", "top1", "top5")} == {k: one.get(k) for k in ("images", "top1", "top5")},
          f"eval on 2 ranks of one machine: the first opened {opened[0]} class folders (at least 3), the second "
          f"{opened[1]}; the counts are one process's ({two} vs {one}) (rc={rc}) {se[-300:]}")
    rc, so, se = run([MPIEXEC, "--allow-run-as-root", "--oversubscribe", "--mca", "btl_vader_single_copy_mechanism",
                      "none", "-np", "2", BIN] + ev[:2] + [os.path.join(tmp, "missing")] + ev[3:])
    check(rc == 2 and "missing" in se and "MPI_ABORT" not in se.upper().replace(" ", "_"),
          f"eval on 2 ranks of a folder that is not there: exit 2 naming it, no abort (rc={rc}) {se[-400:]}")


def main():
    global BIN, MPIEXEC
    BIN, MPIEXEC, group = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.environ.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    run_group({"equivalence": group_equivalence, "eval": group_eval, "failure": group_failure,
               "contract": group_contract, "pack": group_pack, "scan": group_scan}, group, "mpi")


if __name__ == "__main__":
    main()
