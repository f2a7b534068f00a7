"""Bad files: a folder holding each kind of broken image next to good ones.

Checks, for the train and eval loaders (2 workers): the epoch finishes; each
undecodable file is counted once and named (with a reason) in exactly one
warning; train batches stay full (replacements), eval drops exactly the bad
files and keeps every good one; a JPEG cut mid-scan is used with one warning;
strict mode fails naming a bad file; the single-image path (predict) reports
the file. The pixel limit rejects bombs from the header alone.

usage: data_bad_files.py DATA_TOOL
"""
import os
import re
import struct
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import Checker
from data_common import photo, png_chunk, tool, tmpdir

exe = sys.argv[1]
C = Checker("data_bad_files", quiet=True)
d = tmpdir("alexnet_bad_")
root = os.path.join(d, "set")
for cls in ("a", "b"):
    os.makedirs(os.path.join(root, cls))
    for i in range(20):
        photo(64, 48, seed=100 * ord(cls) + i).save(os.path.join(root, cls, f"good_{i:02d}.jpg"), quality=90)

good_jpeg = open(os.path.join(root, "a", "good_00.jpg"), "rb").read()
big = os.path.join(d, "big.jpg")
photo(300, 200, seed=7).save(big, quality=95)
big_jpeg = open(big, "rb").read()


def sof_patch(data, w, h):
    i = data.index(b"\xff\xc0")
    return data[:i + 5] + struct.pack(">HH", h, w) + data[i + 9:]


png_ok = os.path.join(d, "ok.png")
photo(64, 48, seed=9).save(png_ok)
png_bytes = open(png_ok, "rb").read()
idat = png_bytes.index(b"IDAT")
ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
png_bomb = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 60001)) +
            png_chunk(b"IEND", b""))
crc_bad = bytearray(png_bytes)
crc_bad[idat + 10] ^= 0xFF  # inside IDAT data: the chunk CRC no longer matches

bad = {  # name -> (bytes, reason pattern)
    "a/zero.jpg": (b"", r"empty file"),
    "a/text.jpg": (b"hello, I am not an image\n" * 4, r"not a JPEG or PNG"),
    "a/header_cut.jpg": (good_jpeg[:100], r"JPEG"),
    "b/garbage.jpg": (b"\xff\xd8\xff\xe0" + os.urandom(3000), r"JPEG"),
    "b/bomb.jpg": (sof_patch(good_jpeg, 30000, 30000), r"30000x30000 = 900000000 pixels, more than the limit"),
    "b/bomb.png": (png_bomb, r"20000x20000 = 400000000 pixels, more than the limit"),
    "b/anim.JPEG": (b"GIF89a" + os.urandom(200), r"GIF"),
    "a/cut.png": (png_bytes[:idat + 40], r"PNG"),
    "b/crc.png": (bytes(crc_bad), r"PNG"),
}
for name, (data, _) in bad.items():
    with open(os.path.join(root, name), "wb") as f:
        f.write(data)
truncated = os.path.join(root, "a", "scan_cut.jpg")
with open(truncated, "wb") as f:
    f.write(big_jpeg[:len(big_jpeg) * 6 // 10])
n_files = 40 + len(bad) + 1  # 50
bad_paths = {os.path.join(root, n): r for n, (_, r) in bad.items()}


def warnings(stderr):
    return [l for l in stderr.splitlines() if "warning" in l]


def check_run(mode, batch):
    r = tool(exe, "loader", root, mode, 2, batch, 32, 0, check=False)
    tag = f"{mode} loader"
    if not C.check(r.returncode == 0, f"{tag} finishes (rc {r.returncode}: {r.stderr[-300:]})"):
        return
    lines = r.stdout.splitlines()
    m = re.search(r"bad_files (\d+) warned (\d+)", lines[-1])
    C.check(m and int(m.group(1)) == len(bad), f"{tag}: bad_files {m and m.group(1)} == {len(bad)}")
    C.check(m and int(m.group(2)) == 1, f"{tag}: warned {m and m.group(2)} == 1 (the JPEG cut mid-scan)")
    ws = warnings(r.stderr)
    for p, reason in bad_paths.items():
        hits = [w for w in ws if p + ":" in w]
        C.check(len(hits) == 1, f"{tag}: {os.path.basename(p)} named in exactly one warning (got {len(hits)})")
        C.check(hits and re.search(reason, hits[0]), f"{tag}: {os.path.basename(p)} reason /{reason}/ in {hits[:1]}")
    hits = [w for w in ws if truncated in w]
    C.check(len(hits) == 1 and "Premature end" in hits[0], f"{tag}: truncated scan warned once: {hits}")
    C.check(len(ws) == len(bad) + 1, f"{tag}: {len(ws)} warnings, expected {len(bad) + 1}")
    batches = [l for l in lines if l.startswith("batch")]
    sizes = [int(l.split()[3]) for l in batches]
    used = [int(t.split(":")[0]) for l in batches for t in l.split("idx")[1].split()]
    if mode == "train":
        C.check(len(batches) == n_files // batch and all(s == batch for s in sizes),
                f"{tag}: {len(batches)} full batches of {batch}: {sizes}")
    else:
        C.check(sum(sizes) == n_files - len(bad), f"{tag}: {sum(sizes)} samples kept of {n_files} ({len(bad)} bad)")
        C.check(len(set(used)) == len(used) == n_files - len(bad), f"{tag}: every good image exactly once")
        C.check(sum(int(l.split()[5]) for l in batches) == len(bad), f"{tag}: per-batch bad counts add up")


check_run("train", 10)
check_run("eval", 8)

# strict: the first bad file stops the loader, named.
r = tool(exe, "loader", root, "eval", 2, 8, 32, 1, check=False)
C.check(r.returncode == 3, f"strict eval fails (rc {r.returncode})")
failed = [l for l in r.stderr.splitlines() if "loader failed:" in l]  # other workers may still warn after it
named = [p for p in list(bad_paths) + [truncated] if failed and p + ":" in failed[0]]
C.check(len(failed) == 1 and len(named) == 1, f"strict eval names the file: {failed}")
r = tool(exe, "loader", root, "train", 2, 10, 32, 1, check=False)
C.check(r.returncode == 3 and "loader failed" in r.stderr, f"strict train fails (rc {r.returncode})")

# one image (predict's path)
for name in ("a/zero.jpg", "b/bomb.png", "b/garbage.jpg"):
    p = os.path.join(root, name)
    r = tool(exe, "predict", p, os.path.join(d, "out.raw"), 32, "u8", check=False)
    C.check(r.returncode == 1 and p in r.stderr, f"predict {name}: rc {r.returncode}, names the file: {r.stderr.strip()}")
C.done()
