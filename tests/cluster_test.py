#!/usr/bin/python3
"""cluster_test.py — data-parallel training across two "machines" over TCP:
network namespaces on this machine (tests/netns_cluster.py), launched by
mpirun with a hostfile, or by Slurm.

usage: cluster_test.py ALEXNET_BINARY MPIEXEC GROUP
  GROUP  mpirun     2 nodes x batch 4 = 1 process x batch 8 at step 1 (as
                    mpi_test's equivalence), the gradients cross the links
                    (byte counters), placement printed per node
         eval       distributed eval over the 2 nodes counts what 1 process counts
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

import st_write
from cli_test import check, make_dataset, run_group
from mpi_test import rel_err, train_args
import netns_cluster

BIN = MPIEXEC = None


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
    res = json.loads(so) if rc == 0 else None
    check(res == single, f"2 nodes: the same counts ({res} vs {single}) {se[-300:]}")


def main():
    global BIN, MPIEXEC
    BIN, MPIEXEC, group = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    why = netns_cluster.unavailable()
    if why:
        print(f"SKIPPED: {why}")
        sys.exit(77)
    run_group({"mpirun": group_mpirun, "eval": group_eval}, group, "cluster")


if __name__ == "__main__":
    main()
