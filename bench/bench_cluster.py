#!/usr/bin/python3
"""bench_cluster.py — the gradient all-reduce over TCP between two netns
"nodes" on this machine (tests/netns_cluster.py), launched by mpirun with a
hostfile: trains STEPS steps at IMAGE_SIZE px, one rank per node, and prints
rank 0's all-reduce line (MB per step, span from first bucket to last, the
part waited for after backward, overlap) with the bytes that crossed node2's
link and the link's rate while the job ran. Needs root.

usage: bench/bench_cluster.py [BUILD_DIR] [STEPS] [IMAGE_SIZE] [BATCH_PER_RANK]   (STEPS x BATCH a multiple of 8)
"""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "dist"))
import netns_cluster  # noqa: E402


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    steps, size, batch = (int(x) for x in (sys.argv[2:5] + ["8", "224", "8"][len(sys.argv[2:5]):]))
    binary = os.path.abspath(os.path.join(build, "alexnet"))
    why = netns_cluster.unavailable()
    if why:
        sys.exit(why)
    tmp = tempfile.mkdtemp(prefix="alexnet-bench-cluster-")
    data = os.path.join(tmp, "data")
    # one epoch of exactly STEPS steps (rank 0 prints the all-reduce line at the end of a finished run)
    subprocess.run([binary, "prepare", "synthetic", "--out", data, "--num_classes", "16", "--per_class",
                    str(max(1, batch * steps // 8)), "--size", f"{size + 32}x{size + 32}"], check=True,
                   stdout=subprocess.DEVNULL)
    with netns_cluster.Cluster(2, tmp) as c:
        tx0 = c.tx_bytes(2)
        t0 = time.time()
        p = subprocess.run(c.wrap(1, ["mpirun"] + c.mpirun_args() + [
            binary, "train", "--data_dir", data, "--image_size", str(size), "--per_batch_size", str(batch),
            "--max_epoch", "1", "--warmup_epochs", "0", "--log_interval", "1", "--workers", "1", "--threads", "1",
            "--out", os.path.join(tmp, "run")]), capture_output=True, text=True)
        took, tx = time.time() - t0, c.tx_bytes(2) - tx0
    subprocess.run(["rm", "-rf", tmp])
    line = re.search(r"^all-reduce: .*$", p.stdout, re.M)
    if p.returncode != 0 or not line:
        sys.exit(f"the job failed (rc {p.returncode}): {p.stderr[-800:]}")
    print(f"2 nodes x batch {batch}, {size} px, {steps} steps, TCP over veth links")
    print(line.group(0))
    print(f"node2 sent {tx / 1e6:.0f} MB over its link in {took:.1f} s of job ({tx / 1e6 / steps:.0f} MB per step)")


if __name__ == "__main__":
    main()
