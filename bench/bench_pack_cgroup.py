#!/usr/bin/python3
"""bench_pack_cgroup.py — a pack larger than the memory the job may use.

One epoch of the training loader (alexnet bench-data --batches 0: every record once) from a cold page cache,
first without a memory limit, then inside a cgroup-v1 memory limit of a quarter of the pack (page cache is
charged to the cgroup there, as under Slurm or in a container). Prints img/s, the bytes the epoch read from
disk (the process's read_bytes in /proc/PID/io, read before it is reaped) against the pack's size, and the
peak memory charged to the cgroup. The issue's bar (29): the limited epoch within 20% of the unlimited one's
img/s, disk reads at most 1.5x the pack. Needs root and the cgroup-v1 memory controller.

usage: bench/bench_pack_cgroup.py PACK [--alexnet build/alexnet] [--workers 2] [--fraction 4]
"""
import argparse
import json
import os
import subprocess
import sys
import time

MEM = "/sys/fs/cgroup/memory"


def evict(path):
    """The file out of the page cache (its clean pages; no privileges needed)."""
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def run_epoch(cmd, cgroup):
    """Runs cmd inside cgroup (None: the current one); (stdout, seconds, read_bytes, rc)."""
    def enter():
        if cgroup:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=enter)
    out = p.stdout.read()
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)   # exited, not reaped: its /proc/PID/io is still there
    seconds = time.time() - t0
    io = dict(line.split(": ") for line in open(f"/proc/{p.pid}/io").read().splitlines())
    rc = p.wait()
    return out, seconds, int(io["read_bytes"]), rc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pack")
    ap.add_argument("--alexnet", default="build/alexnet")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--fraction", type=int, default=4)
    a = ap.parse_args()
    if not os.access(MEM, os.W_OK):
        sys.exit("bench_pack_cgroup: needs root and cgroup v1's memory controller at " + MEM)
    size = os.path.getsize(a.pack)
    cmd = [os.path.abspath(a.alexnet), "bench-data", "--data_dir", a.pack, "--workers", str(a.workers),
           "--image_size", "224", "--per_batch_size", "64", "--batches", "0", "--json"]
    print(f"pack {a.pack}: {size / 2**20:.0f} MB; one epoch of bench-data, {a.workers} workers, cold cache")
    print(f"{'memory limit':>14} {'img/s':>8} {'seconds':>8} {'disk read':>11} {'x pack':>7} {'peak charged':>13}")
    rows = {}
    for mode in ("none", "quarter"):
        cg = os.path.join(MEM, f"alexnet-bench-{os.getpid()}-{mode}")
        os.mkdir(cg)
        try:
            limit = None
            if mode == "quarter":
                limit = size // a.fraction
                open(os.path.join(cg, "memory.limit_in_bytes"), "w").write(str(limit))
            evict(a.pack)
            out, secs, read, rc = run_epoch(cmd, cg)
            peak = int(open(os.path.join(cg, "memory.max_usage_in_bytes")).read())
        finally:
            os.rmdir(cg)
        if rc != 0:
            sys.exit(f"bench_pack_cgroup: bench-data failed ({rc}) under limit {limit}")
        img_s = json.loads(out)["img_s"]
        rows[mode] = (img_s, read)
        shown = "none" if limit is None else f"{limit / 2**20:.0f} MB"
        print(f"{shown:>14} {img_s:>8.1f} {secs:>8.1f} {read / 2**20:>8.0f} MB {read / size:>7.2f} "
              f"{peak / 2**20:>10.0f} MB")
    ratio = rows["quarter"][0] / rows["none"][0]
    print(f"limited / unlimited img/s: {ratio:.2f} (bar: >= 0.80); limited disk reads {rows['quarter'][1] / size:.2f}x "
          f"the pack (bar: <= 1.5)")


if __name__ == "__main__":
    main()
