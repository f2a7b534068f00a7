#!/usr/bin/python3
"""data_pack_cgroup.py — a pack larger than the memory the job may use (issue 29).

A pack of ~4000 records (~150 MB) is read for one epoch by the training loader (alexnet bench-data --batches 0)
from a cold page cache, inside a cgroup memory limit of the program's own peak (a short run's) plus a third of
the pack (page cache is charged to the cgroup: cgroup v1's memory controller, or v2's memory.max): the epoch completes, every record once, and the
bytes the process read from disk (read_bytes of /proc/PID/io) are at most 1.5 times the pack. Skipped, saying
why, where no memory cgroup can be made (not root, no controller). The throughput against an unlimited run is
measured by bench/bench_pack_cgroup.py (docs/SCALE.md), not asserted here.

usage: data_pack_cgroup.py ALEXNET
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import check, run_group, skip

BIN = None
V1 = "/sys/fs/cgroup/memory"
V2 = "/sys/fs/cgroup/unified" if os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") else "/sys/fs/cgroup"


def make_cgroup(name, limit):
    """A memory cgroup limited to limit bytes: its folder, or None with the reason."""
    if os.geteuid() != 0:
        return None, "not root: no cgroup can be made"
    if os.path.isdir(V1) and os.access(V1, os.W_OK):
        path = os.path.join(V1, name)
        try:
            os.mkdir(path)
            open(os.path.join(path, "memory.limit_in_bytes"), "w").write(str(limit))
            return path, None
        except OSError as e:
            if os.path.isdir(path):
                os.rmdir(path)
            return None, f"cgroup v1 at {V1} refused a limited child: {e}"
    ctl = os.path.join(V2, "cgroup.controllers")
    if os.path.exists(ctl) and "memory" in open(ctl).read().split():
        try:
            open(os.path.join(V2, "cgroup.subtree_control"), "w").write("+memory")
            path = os.path.join(V2, name)
            os.mkdir(path)
            open(os.path.join(path, "memory.max"), "w").write(str(limit))
            return path, None
        except OSError as e:
            if os.path.isdir(os.path.join(V2, name)):
                os.rmdir(os.path.join(V2, name))
            return None, f"cgroup v2 at {V2} refused a memory child: {e}"
    return None, "no cgroup memory controller (v1 at /sys/fs/cgroup/memory or v2) is writable here"


def group_epoch(tmp):
    data, pack = os.path.join(tmp, "data"), os.path.join(tmp, "d.pack")
    p = subprocess.run([BIN, "prepare", "synthetic", "--out", data, "--num_classes", "8", "--per_class", "500",
                        "--size", "320x240", "--seed", "3"], capture_output=True, text=True)
    check(p.returncode == 0, f"prepare synthetic ({p.returncode}) {p.stderr[-300:]}")
    p = subprocess.run([BIN, "prepare", "pack", "--data_dir", data, "--out", pack], capture_output=True, text=True)
    size = os.path.getsize(pack) if p.returncode == 0 else 0
    check(p.returncode == 0 and size > 64 << 20, f"prepare pack: {size >> 20} MB ({p.returncode}) {p.stderr[-300:]}")
    # the program's own memory (libraries, loader buffers: ~20 MB, or ~230 MB when the build links CUDA's
    # libraries), from a short run's peak RSS, plus room for a third of the pack's pages
    bench = [BIN, "bench-data", "--data_dir", pack, "--workers", "2", "--image_size", "64", "--per_batch_size", "50",
             "--json"]
    short = subprocess.Popen(bench + ["--batches", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(short.pid, 0)
    own = usage.ru_maxrss * 1024
    limit = own + size // 3
    cg, why = make_cgroup(f"alexnet-test-{os.getpid()}", limit)
    if cg is None:
        skip(why)
    try:
        fd = os.open(pack, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)   # a cold page cache (clean pages: no privileges)
        os.close(fd)

        def enter():
            open(os.path.join(cg, "cgroup.procs"), "w").write(str(os.getpid()))
        errfile = open(os.path.join(tmp, "stderr.txt"), "w+")
        proc = subprocess.Popen(bench + ["--batches", "0"], stdout=subprocess.PIPE, stderr=errfile, text=True,
                                preexec_fn=enter)
        out = proc.stdout.read()
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)   # exited, not reaped: /proc/PID/io is there
        io = dict(line.split(": ") for line in open(f"/proc/{proc.pid}/io").read().splitlines())
        rc = proc.wait()
        errfile.seek(0)
        err = errfile.read()
    finally:
        os.rmdir(cg)
    res = json.loads(out) if rc == 0 else {}
    read = int(io["read_bytes"])
    # bench-data times the epoch after its first batch (50 records)
    check(rc == 0 and res.get("images") == 4000 - 50 and res.get("bad_files") == 0,
          f"one epoch of the {size >> 20} MB pack under a memory limit of {limit >> 20} MB (the program's own "
          f"{own >> 20} MB and a third of the pack) completes: "
          f"{res.get('images')} timed records after the first batch of 50, no bad record (rc={rc}) {err[-300:]}")
    check(read <= 1.5 * size, f"and reads {read >> 20} MB from disk, {read / size:.2f}x the pack (at most 1.5x)")


def main():
    global BIN
    BIN = os.path.abspath(sys.argv[1])
    run_group({"epoch": group_epoch}, "epoch", "data_pack_cgroup")


if __name__ == "__main__":
    main()
