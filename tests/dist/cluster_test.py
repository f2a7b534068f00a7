#!/usr/bin/python3
"""cluster_test.py — data-parallel training across two "machines" over TCP:
network namespaces on this machine (tests/netns_cluster.py), launched by
mpirun with a hostfile, or by Slurm.

usage: cluster_test.py ALEXNET_BINARY MPIEXEC GROUP
  GROUP  mpirun     2 nodes x batch 4 = 1 process x batch 8 at step 1 (as
                    mpi_test's equivalence), the gradients cross the links
                    (byte counters), placement printed per node
         eval       distributed eval over the 2 nodes counts what 1 process counts
         slurm      srun --mpi=pmix over 2 nodes = 1 process at step 1, and the
                    README's sbatch script (scripts/slurm-train.sbatch) trains a
                    run that a second job resumes
         node_loss  a node whose rank is killed, and a node cut off the network,
                    each end the job within 60 s with a message naming the node;
                    --resume then finishes the run
Exit 77 (skipped) where network namespaces can't be made (not root, no ip).
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import st_write
from check import check, run_group, skip
from cli_common import make_dataset
from dist_common import rel_err, train_args
import netns_cluster
import slurm_cluster

BIN = MPIEXEC = None
HOWS = os.environ.get("CLUSTER_LOSS", "kill link stall").split()


def run(cmd, timeout=600):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def mpirun(c, args, np=2):
    """The command that runs BIN args on np nodes, mpirun itself on node1."""
    return c.wrap(1, [MPIEXEC] + c.mpirun_args(np) + [BIN] + args)


def group_mpirun(tmp):
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=8)
    one, two = os.path.join(tmp, "one"), os.path.join(tmp, "two")
    rc, _, se = run([BIN] + train_args(data, one, 8, ["--max_steps", "1"]))
    check(rc == 0, f"one step on 1 process (rc={rc}) {se[-300:]}")
    with netns_cluster.Cluster(2, tmp) as c:
        tx0 = [c.tx_bytes(i) for i in (1, 2)]
        rc, so, se = run(mpirun(c, train_args(data, two, 4, ["--max_steps", "1"])))
        tx = [c.tx_bytes(i) - t for i, t in zip((1, 2), tx0)]
    check(rc == 0, f"one step on 2 nodes over TCP (rc={rc}) {so[-300:]} {se[-600:]}")
    if rc != 0:
        return
    print(so)
    check("2 processes on 2 nodes" in so and "rank 0  node1: local rank 0 of 1" in so
          and "rank 1  node2: local rank 0 of 1" in so, "rank 0 prints where every rank runs, one line per node")
    a, _ = st_write.load(os.path.join(one, "train_state.safetensors"))
    b, _ = st_write.load(os.path.join(two, "train_state.safetensors"))
    worst = max(rel_err(b[k], a[k]) for k in a if k.startswith("momentum."))
    check(worst <= 1e-5, f"step 1 over TCP: the same averaged gradient in every tensor (worst normalised error {worst:.2e})")
    grad_bytes = 4 * sum(v.numel() for k, v in a.items() if k.startswith("momentum."))
    # node1 broadcasts weights and momentum (2 x grad_bytes) and both send about
    # grad_bytes in the all-reduce of 2 ranks
    print(f"  bytes sent over the links: node1 {tx[0] / 1e6:.1f} MB, node2 {tx[1] / 1e6:.1f} MB; "
          f"gradients {grad_bytes / 1e6:.1f} MB")
    check(tx[1] >= 0.9 * grad_bytes and tx[0] >= 2.5 * grad_bytes,
          f"the gradients crossed the veth links (node2 sent {tx[1]} bytes, node1 {tx[0]}; gradients {grad_bytes})")


def group_eval(tmp):
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=4)
    make_dataset(os.path.join(data, "val"), classes=3, per_class=8, seed=5)
    os.remove(os.path.join(data, "val", "class_2", "img_007.jpg"))  # 23 images: not a multiple of 2 x 4
    out = os.path.join(tmp, "run")
    rc, so, se = run([BIN] + train_args(data, out, 4, ["--max_epoch", "1"]))
    check(rc == 0, f"train a model (rc={rc}) {se[-300:]}")
    args = ["eval", "--data_dir", os.path.join(data, "val"), "--pretrained", os.path.join(out, "last.safetensors"),
            "--per_batch_size", "4", "--json", "--backend", "ref", "--threads", "1", "--workers", "1"]
    rc, so, se = run([BIN] + args)
    single = json.loads(so) if rc == 0 else None
    check(single is not None and single["images"] == 23, f"single-process eval counts 23 images: {so[-200:]} {se[-200:]}")
    with netns_cluster.Cluster(2, tmp) as c:
        rc, so, se = run(mpirun(c, args))
    try:
        res = json.loads(so) if rc == 0 else None
    except ValueError:
        res = None
    check(res == single, f"2 nodes: the same counts ({res} vs {single}) stdout: {so[-600:]!r} stderr: {se[-600:]}")


def wait_for_end(proc, log, t_lost):
    """Seconds from t_lost until proc ended (None: still running after 60 s, then killed), and its log."""
    try:
        proc.wait(timeout=60)
        took = time.time() - t_lost
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        took = None
    log.seek(0)
    return took, log.read()


def rank_pid(c, i):
    """The alexnet process running on node i, or None."""
    p = subprocess.run(["ip", "netns", "pids", c.ns[i]], capture_output=True, text=True)
    for pid in p.stdout.split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0].decode()) == os.path.basename(BIN) and b"train" in argv:
            return int(pid)
    return None


def lose_node(c, args, metrics, how):
    """Starts the job, waits for step 5, loses node2 (how: "kill" its rank,
    "link" down, or "stall": its rank stopped, connections open) and returns
    (seconds until the job ended or None, its exit status, its output)."""
    # output to a file: a daemon left on a lost node holds mpirun's pipes open
    log = open(os.path.join(c.tmp, f"job-{how}.log"), "w+")
    proc = subprocess.Popen(mpirun(c, args), stdout=log, stderr=subprocess.STDOUT, text=True)
    t0 = time.time()
    while time.time() - t0 < 300 and proc.poll() is None:
        if os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 5:
            break
        time.sleep(0.1)
    if how == "link":
        c.link_down(2)
    else:
        pid = rank_pid(c, 2)
        check(pid is not None, "found rank 1's process on node2")
        if pid:
            os.kill(pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    took, text = wait_for_end(proc, log, time.time())
    return took, proc.returncode, text


def group_node_loss(tmp):
    """A node lost mid-run ends the job within 60 s with a message naming it,
    and the run resumes from its last saved state: (1) rank 1's process on
    node2 killed: Open MPI notices at once; resumed on both nodes. (2) node2
    cut off the network (no TCP reset ever comes): mpirun's daemon keepalive
    (the oob_tcp_keepalive_* options) notices in ~10 s; resumed on node1
    alone with the same global batch. (3) rank 1 hangs (stopped; connections
    and daemon fine, nothing for Open MPI to notice): rank 0's --dist_timeout
    watchdog names node2 and ends the job; resumed on both nodes."""
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=16)
    for how in HOWS:
        out = os.path.join(tmp, f"run-{how}")
        metrics = os.path.join(out, "metrics.jsonl")
        args = train_args(data, out, 4, ["--max_epoch", "3", "--save_every_steps", "3", "--dist_timeout", "20"])
        with netns_cluster.Cluster(2, tmp) as c:
            took, rc, text = lose_node(c, args, metrics, how)
            print(f"--- node2 lost ({how}): job output\n{text[-1500:]}")
            check(took is not None and rc != 0, f"node2 lost ({how}): the job ends non-zero within 60 s "
                  f"(rc={rc}, {'%.1f s' % took if took is not None else 'still running after 60 s'})")
            named = "node2" in text or c.addr(2) in text
            if how == "stall":
                named = "Waiting for: rank 1 on node2" in text and "--dist_timeout 20" in text
            check(named, f"node2 lost ({how}): the message names node2 or {c.addr(2)}")
            if how != "link":
                rc, so, se = run(mpirun(c, ["train", "--resume", out]))
            else:  # the surviving node alone: 1 process x 8 keeps the global batch
                rc, so, se = run(c.wrap(1, [BIN, "train", "--resume", out, "--per_batch_size", "8"]))
        check(rc == 0 and "resuming" in so, f"node2 lost ({how}): --resume finishes (rc={rc}) {so[-300:]} {se[-300:]}")
        recs = [json.loads(x) for x in open(metrics)] if os.path.exists(metrics) else []
        check(sum(r["type"] == "epoch" for r in recs) == 3, f"node2 lost ({how}): all 3 epochs recorded after the resume")


def group_slurm(tmp):
    """srun --mpi=pmix -N 2 = 1 process at step 1 (as group_mpirun); the
    README's sbatch script trains a run that a second job resumes to its end."""
    why = slurm_cluster.unavailable()
    if why:
        skip(why)
    data = os.path.join(tmp, "data")
    make_dataset(os.path.join(data, "train"), per_class=8)
    one, two, job = (os.path.join(tmp, x) for x in ("one", "two", "job"))
    rc, _, se = run([BIN] + train_args(data, one, 8, ["--max_steps", "1"]))
    check(rc == 0, f"one step on 1 process (rc={rc}) {se[-300:]}")
    net = f"{netns_cluster.SUBNET}.0/24"
    os.environ.update(OMPI_MCA_btl="tcp,self", OMPI_MCA_btl_tcp_if_include=net, OMPI_MCA_oob_tcp_if_include=net)
    with netns_cluster.Cluster(2, tmp) as c, slurm_cluster.Slurm(c) as s:
        tx0 = c.tx_bytes(2)
        p = s.run(["srun", "--mpi=pmix", "-N", "2", "--ntasks-per-node=1", BIN]
                  + train_args(data, two, 4, ["--max_steps", "1"]), check=False, timeout=300)
        check(p.returncode == 0 and "rank 1  node2:" in p.stdout,
              f"srun --mpi=pmix: one step on 2 nodes (rc={p.returncode}) {p.stdout[-300:]} {p.stderr[-600:]}")
        if p.returncode == 0:
            a, _ = st_write.load(os.path.join(one, "train_state.safetensors"))
            b, _ = st_write.load(os.path.join(two, "train_state.safetensors"))
            worst = max(rel_err(b[k], a[k]) for k in a if k.startswith("momentum."))
            check(worst <= 1e-5, f"srun step 1: the same averaged gradient in every tensor (worst {worst:.2e})")
            grad_bytes = 4 * sum(v.numel() for k, v in a.items() if k.startswith("momentum."))
            tx = c.tx_bytes(2) - tx0
            check(tx >= 0.9 * grad_bytes, f"srun: the gradients crossed the links (node2 sent {tx} bytes, gradients {grad_bytes})")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "slurm-train.sbatch")
        s.env["ALEXNET"] = BIN
        sb = ["sbatch", "--wait", "--chdir", tmp, "-o", os.path.join(tmp, "job-%j.out"), script, job]
        rcs = []
        for extra in (["--max_steps", "4", "--save_every_steps", "2"], []):
            p = s.run(sb + (train_args(data, job, 4, extra)[1:] if extra else []), check=False, timeout=400)
            rcs.append(p.returncode)
            outs = sorted(f for f in os.listdir(tmp) if f.startswith("job-"))
            text = open(os.path.join(tmp, outs[-1])).read() if outs else ""
            print(f"--- sbatch job {len(rcs)}: rc {p.returncode} {p.stdout.strip()} {p.stderr.strip()[-300:]}\n{text[-800:]}")
        if rcs[0] != 0 or rcs[1] != 0:
            print(s.logs())
        # a hung rank under srun: the watchdog names node2, --kill-on-bad-exit ends the step
        out = os.path.join(tmp, "hang")
        log = open(os.path.join(tmp, "hang.log"), "w+")
        proc = subprocess.Popen(c.wrap(1, ["srun", "--mpi=pmix", "--kill-on-bad-exit=1", "-N", "2", "--ntasks-per-node=1", BIN]
                                       + train_args(data, out, 4, ["--dist_timeout", "15"])),
                                stdout=log, stderr=subprocess.STDOUT, env=s.env)
        metrics = os.path.join(out, "metrics.jsonl")
        t0 = time.time()
        while time.time() - t0 < 300 and proc.poll() is None and not (
                os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 2):
            time.sleep(0.1)
        pid = rank_pid(c, 2)
        check(pid is not None, "srun: found rank 1's process on node2")
        if pid:
            os.kill(pid, signal.SIGSTOP)
        took, text_hang = wait_for_end(proc, log, time.time())
        print(f"--- srun, rank 1 hung:\n{text_hang[-1000:]}")
        check(took is not None and proc.returncode != 0 and "Waiting for: rank 1 on node2" in text_hang,
              f"srun: a hung rank on node2 ends the job within 60 s, named (rc={proc.returncode}, took {took})")
    check(rcs == [0, 0] and "resuming at epoch 2, batch 1 (step 4)" in text,
          f"sbatch: a 2-node job trains 4 steps, a second job resumes it (rc {rcs})")
    recs = [json.loads(x) for x in open(os.path.join(job, "metrics.jsonl"))] if os.path.exists(job) else []
    check(sum(r["type"] == "epoch" for r in recs) == 2, "sbatch: both epochs recorded after the resume")


def main():
    global BIN, MPIEXEC
    BIN, MPIEXEC, group = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    why = netns_cluster.unavailable()
    if why:
        skip(why)
    # a test timeout's SIGTERM still stops the cluster (the with blocks' cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run_group({"mpirun": group_mpirun, "eval": group_eval, "node_loss": group_node_loss, "slurm": group_slurm}, group, "cluster")


if __name__ == "__main__":
    main()
