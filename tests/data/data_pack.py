"""Pack files (alexnet prepare pack; src/data/pack*.c) against the folder they
were made from:
 - round trip: classes, names (scan order), labels and stored sizes; the bad
   source file named and left out; a raw pack's pixels equal PIL's
   Image.resize(size, BILINEAR) of the source (Pillow-exact downscaling);
 - every augmentation read from a pack equals the same augmentation on the
   stored image decoded from a file: fixed train/eval transforms, and whole
   loader epochs (train and eval, 1 and 3 workers, 2 ranks) from the pack vs
   from a folder holding its records as files — bit-identical batches;
 - corruption: a flipped data byte (CRC mismatch: named, replaced/skipped,
   counted), a truncated pack (the lost records are bad files; a pack cut
   inside its index is an error), flipped header/index bytes, a wrong
   version or magic: one clear line and exit 2 from the CLI, never a crash.

usage: data_pack.py DATA_TOOL ALEXNET
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import Checker
from data_common import photo, read_raw, tool, tmpdir

exe, alexnet = sys.argv[1], sys.argv[2]
C = Checker("data_pack", quiet=True)
d = tmpdir("alexnet_pack_")


def run(*args):
    return subprocess.run([alexnet] + [str(a) for a in args], capture_output=True, text=True)


# --- a small folder: 3 classes, a nested folder, JPEG/PNG/gray/small, one bad file
src = os.path.join(d, "src")
sizes = {}
for c, cls in enumerate(["cat", "dog", "eel"]):
    os.makedirs(os.path.join(src, cls, "sub"))
    for k in range(4):
        w, h = [(500, 375), (375, 500), (200, 150), (640, 480)][k]
        name = os.path.join(cls, "sub" if k == 3 else "", f"img{k}.jpg").replace("//", "/")
        photo(w, h, 10 * c + k).save(os.path.join(src, name), quality=90)
        sizes[name] = (w, h)
    photo(300, 420, 50 + c).save(os.path.join(src, cls, "p.png")); sizes[f"{cls}/p.png"] = (300, 420)
    photo(333, 250, 60 + c, "L").save(os.path.join(src, cls, "g.jpg"), quality=90); sizes[f"{cls}/g.jpg"] = (333, 250)
with open(os.path.join(src, "dog", "broken.jpg"), "wb") as f:
    f.write(b"\xff\xd8\xff\xe0 not really a jpeg")

# The folder's scan order, from the loader itself (eval, 1 worker: indices in order).
jpack, rpack = os.path.join(d, "j.pack"), os.path.join(d, "r.pack")
r = run("prepare", "pack", "--data_dir", src, "--out", jpack, "--workers", 2)
C.check(r.returncode == 0 and "18 images in 3 classes" in r.stdout and "1 bad files left out" in r.stdout,
        f"prepare pack: {r.returncode} {r.stdout} {r.stderr}")
C.check("broken.jpg" in r.stderr and "left out of the pack" in r.stderr, f"bad file named: {r.stderr}")
C.check(not [f for f in os.listdir(d) if ".tmp." in f], "no temporary file left")
r = run("prepare", "pack", "--data_dir", src, "--out", rpack, "--raw", "--workers", 1, "--quiet")
C.check(r.returncode == 0 and r.stderr == "", f"prepare pack --raw --quiet: {r.returncode} {r.stderr}")
r = run("prepare", "pack", "--data_dir", src, "--out", jpack)
C.check(r.returncode == 2 and "exists" in r.stderr, f"existing --out refused: {r.returncode} {r.stderr}")
r = run("prepare", "pack", "--data_dir", jpack, "--out", os.path.join(d, "x.pack"))
C.check(r.returncode == 2 and "already a pack" in r.stderr, f"a pack as the source: {r.stderr}")
r = run("prepare", "pack", "--data_dir", os.path.join(d, "nothing"), "--out", os.path.join(d, "x.pack"))
C.check(r.returncode == 2 and "nothing" in r.stderr, f"missing source: {r.stderr}")


def listing(pack):
    out = tool(exe, "pack", pack).stdout.splitlines()
    n = int(out[0].split()[1])
    classes = out[1:1 + n]
    recs = []
    for line in out[1 + n:-1]:
        t = line.split()
        recs.append(dict(i=int(t[1]), label=int(t[3]), w=int(t[5]), h=int(t[7]), size=int(t[9]), name=t[11]))
    tail = out[-1].split()
    return classes, recs, int(tail[1]), int(tail[3])


def expected_size(w, h, short=256):
    s, l = min(w, h), max(w, h)
    if s <= short:
        return w, h
    nl = int(short * l / s)
    return (nl, short) if w > h else (short, nl)


order = sorted(sizes, key=lambda n: (n.split("/")[0], os.path.dirname(n), os.path.basename(n)))
for pack, mode in [(jpack, 1), (rpack, 2)]:
    classes, recs, skipped, m = listing(pack)
    C.check(classes == ["cat", "dog", "eel"], f"{pack}: classes {classes}")
    C.check(skipped == 1 and m == mode, f"{pack}: skipped {skipped}, mode {m}")
    C.check([x["name"] for x in recs] == order, f"{pack}: names in scan order {[x['name'] for x in recs]}")
    C.check([x["label"] for x in recs] == [["cat", "dog", "eel"].index(n.split("/")[0]) for n in order],
            f"{pack}: labels")
    for x in recs:
        C.check((x["w"], x["h"]) == expected_size(*sizes[x["name"]]), f"{pack}: size of {x['name']}: {x}")
        if mode == 2:
            C.check(x["size"] == x["w"] * x["h"] * 3, f"raw size of {x['name']}")

# Raw records are Pillow's own downscaling, byte for byte; an image within the
# bound is kept as its original file in a JPEG pack.
_, recs, _, _ = listing(rpack)
for x in recs:
    out = os.path.join(d, "rec.bin")
    tool(exe, "packrec", rpack, x["i"], out)
    got = read_raw(out, (x["h"], x["w"], 3))
    ref = np.asarray(Image.open(os.path.join(src, x["name"])).convert("RGB").resize((x["w"], x["h"]), Image.BILINEAR))
    C.check(np.array_equal(got, ref), f"raw record {x['name']} == PIL resize")
_, recs, _, _ = listing(jpack)
for x in recs:
    if (x["w"], x["h"]) == sizes[x["name"]]:
        out = os.path.join(d, "rec.bin")
        tool(exe, "packrec", jpack, x["i"], out)
        C.check(open(out, "rb").read() == open(os.path.join(src, x["name"]), "rb").read(), f"{x['name']} kept as is")


def unpack(pack, dst):
    """The pack's records as files (raw ones as PNG), same names and order."""
    _, recs, _, mode = listing(pack)
    for x in recs:
        p = os.path.join(dst, x["name"])
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tool(exe, "packrec", pack, x["i"], p)
        if mode == 2:
            Image.fromarray(read_raw(p, (x["h"], x["w"], 3))).save(p, format="PNG")
    return recs


for pack in [jpack, rpack]:
    folder = os.path.join(d, os.path.basename(pack) + ".files")
    recs = unpack(pack, folder)
    # fixed transforms on single records
    for x in recs[:6]:
        f = os.path.join(folder, x["name"])
        for exact in (0, 1):
            a, b = os.path.join(d, "a.bin"), os.path.join(d, "b.bin")
            box = (x["h"] // 5, x["w"] // 7, x["h"] // 2, x["w"] // 2)
            args = [64, "u8", exact, *box, 1, 1, 1.2, 0.8, 1.1, 2, 0, 1]
            tool(exe, "train", f"{pack}@{x['i']}", a, *args)
            tool(exe, "train", f, b, *args)
            C.check(open(a, "rb").read() == open(b, "rb").read(), f"train transform {pack}@{x['i']} exact={exact}")
            tool(exe, "eval", f"{pack}@{x['i']}", a, 64, "nchw", exact)
            tool(exe, "eval", f, b, 64, "nchw", exact)
            C.check(open(a, "rb").read() == open(b, "rb").read(), f"eval transform {pack}@{x['i']} exact={exact}")
    # whole epochs through the loader: pack == folder of its records, any worker count, 2 ranks
    for mode, batch in [("train", 4), ("eval", 5)]:
        ref = tool(exe, "loader", folder, mode, 1, batch, 48, 0, 1, 0, 1).stdout
        for workers in (1, 3):
            got = tool(exe, "loader", pack, mode, workers, batch, 48, 0, 1, 0, 1).stdout
            C.check(got == ref and "bad_files 0" in got, f"loader {mode} {pack} workers {workers}")
        for rank in (0, 1):
            ref = tool(exe, "loader", folder, mode, 2, batch // 2 + 1, 48, 0, 2, rank, 3).stdout
            got = tool(exe, "loader", pack, mode, 2, batch // 2 + 1, 48, 0, 2, rank, 3).stdout
            C.check(got == ref, f"loader {mode} {pack} rank {rank} of 2")


# --- corruption
def damaged(name, edit):
    p = os.path.join(d, name)
    shutil.copy(jpack, p)
    with open(p, "r+b") as f:
        edit(f)
    return p


_, recs, _, _ = listing(jpack)
hdr = open(jpack, "rb").read(4096)
doff, = struct.unpack_from("<Q", hdr, 96)
ioff, = struct.unpack_from("<Q", hdr, 88)
first_off, first_size = struct.unpack_from("<QI", open(jpack, "rb").read(ioff + 12)[ioff:])


def flip(off):
    def edit(f):
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x5A]))
    return edit


bad = damaged("crc.pack", flip(first_off + first_size // 2))
for mode in ("train", "eval"):
    r = tool(exe, "loader", bad, mode, 2, 4, 48, 0, check=False)
    C.check(r.returncode == 0 and "bad_files 1" in r.stdout and "CRC32 mismatch" in r.stderr
            and f"crc.pack/{recs[0]['name']}" in r.stderr, f"flipped data byte ({mode}): {r.stdout[-40:]} {r.stderr}")
r = tool(exe, "loader", bad, "train", 2, 4, 48, 1, check=False)
C.check(r.returncode == 3 and "CRC32 mismatch" in r.stderr, f"strict: the CRC mismatch is fatal: {r.stderr}")

size = os.path.getsize(jpack)
trunc = damaged("trunc.pack", lambda f: f.truncate(size - 100))
r = tool(exe, "loader", trunc, "eval", 1, 4, 48, 0, check=False)
C.check(r.returncode == 0 and "bad_files 1" in r.stdout and "truncated" in r.stderr and "past the end" in r.stderr,
        f"truncated data: {r.stdout[-40:]} {r.stderr}")
for name, edit, words in [
        ("cut.pack", lambda f: f.truncate(ioff + 10), "index is lost"),
        ("cuthead.pack", lambda f: f.truncate(100), "truncated"),
        ("version.pack", lambda f: (f.seek(8), f.write(struct.pack("<I", 2))), "version 2 pack"),
        ("magic.pack", lambda f: (f.seek(0), f.write(b"NOTAPACK")), "not a folder, nor an alexnet pack"),
        ("header.pack", flip(200), "header's CRC32"),
        ("index.pack", flip(ioff + 40), "does not match"),
        ("empty.pack", lambda f: f.truncate(0), "not a folder, nor an alexnet pack")]:
    p = damaged(name, edit)
    r = tool(exe, "loader", p, "train", 1, 4, 48, 0, check=False)
    C.check(r.returncode == 2 and words in r.stderr, f"{name}: data_tool {r.returncode} {r.stderr}")
    r = run("bench-data", "--data_dir", p, "--batches", 1, "--per_batch_size", 4, "--workers", 1)
    C.check(r.returncode == 2 and words in r.stderr.splitlines()[0],
            f"{name}: bench-data exit {r.returncode}: {r.stderr}")
# every byte of the header flipped in turn (and a few of the index): an error or a clean open, never a crash
for off in list(range(0, 140, 3)) + list(range(ioff, ioff + 64, 5)):
    p = damaged("any.pack", flip(off))
    r = tool(exe, "loader", p, "eval", 1, 4, 48, 0, check=False)
    C.check(r.returncode in (0, 2), f"flipped byte {off}: exit {r.returncode} {r.stderr[-200:]}")

# Ctrl-C while packing: no pack, no temporary file
big = os.path.join(d, "big")
r = run("prepare", "synthetic", "--out", big, "--num_classes", 2, "--per_class", 400, "--size", "500x375")
C.check(r.returncode == 0, f"prepare synthetic: {r.stderr}")
out = os.path.join(d, "big.pack")
proc = subprocess.Popen([alexnet, "prepare", "pack", "--data_dir", big, "--out", out, "--workers", "1"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
t0 = time.time()
while time.time() - t0 < 30 and not [f for f in os.listdir(d) if f.startswith("big.pack.tmp.")]:
    time.sleep(0.01)
time.sleep(0.3)
proc.send_signal(signal.SIGINT)
proc.communicate(timeout=60)
C.check(proc.returncode == -signal.SIGINT, f"interrupted: killed by SIGINT ({proc.returncode}; it finished first?)")
C.check(not [f for f in os.listdir(d) if f.startswith("big.pack")], f"interrupted: nothing left {os.listdir(d)}")

# cold reads: a few random batches of a pack not in the page cache read about their records, not the pack
# (readahead around mmap faults, up to 8 MB on the CI machine, read the whole 20 MB pack for 100 records)
COLD = """
import os, resource, subprocess, sys
fd = os.open(sys.argv[2], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
p = subprocess.run(sys.argv[1:2] + sys.argv[3:], capture_output=True)
print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_inblock * 512)
"""
r = run("prepare", "pack", "--data_dir", big, "--out", out, "--workers", 2)
C.check(r.returncode == 0, f"prepare pack of 800 images: {r.stderr}")
def cold_read_bytes(*args):
    r = subprocess.run([sys.executable, "-c", COLD, alexnet, out] + [str(a) for a in args], capture_output=True,
                       text=True)
    rc, n = r.stdout.split()
    return int(rc), int(n)
rc_seq, seq = cold_read_bytes("bench-data", "--data_dir", out, "--batches", 0, "--per_batch_size", 25, "--workers", 1)
size = os.path.getsize(out)
if seq < size // 2:
    print(f"skip: cold reads are not measurable here (a whole pass over the pack read {seq} bytes of {size}: the "
          f"file system does not count reads, or the pack stayed cached)")
else:
    rc, got = cold_read_bytes("bench-data", "--data_dir", out, "--batches", 2, "--per_batch_size", 25, "--workers", 1)
    C.check(rc == 0 and got <= size // 4, f"2 random batches of 25 of an uncached 800-record pack read "
            f"{got / 1e6:.2f} MB of its {size / 1e6:.1f} MB (at most a quarter; a whole pass read {seq / 1e6:.1f})")

# bench-data and eval-style use from the CLI
r = run("bench-data", "--data_dir", jpack, "--batches", 2, "--per_batch_size", 4, "--workers", 2, "--json")
C.check(r.returncode == 0 and json.loads(r.stdout).get("bad_files") == 0, f"bench-data on a pack: {r.stdout} {r.stderr}")
C.done()
