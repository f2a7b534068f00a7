#!/usr/bin/python3
"""doc_ops_table.py — the op table of docs/ARCHITECTURE.md ("Where each op
lives") names real code: every `file:function` in it (file relative to src/)
is a file that defines that function, and every op of src/nn/ops.h has a row
whose reference column names its forward and backward.

usage: doc_ops_table.py REPO_ROOT

A definition is a line that starts in column 0, names the function before a
"(" and reaches a "{" before any ";" (a prototype does not count).
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import Checker

C = Checker("doc_ops_table", quiet=True)

root = os.path.abspath(sys.argv[1])
doc = os.path.join(root, "docs", "ARCHITECTURE.md")
lines = open(doc, encoding="utf-8").read().split("\n")

# the table: the first one after the heading
try:
    start = next(i for i, l in enumerate(lines) if l.startswith("## ") and "Where each op lives" in l)
except StopIteration:
    sys.exit(f"FAIL: {doc} has no '## Where each op lives' section")
rows, in_table = [], False
for l in lines[start + 1:]:
    if l.startswith("|"):
        in_table = True
        rows.append([c.strip() for c in l.strip().strip("|").split("|")])
    elif in_table or l.startswith("## "):
        break
if len(rows) < 3:
    sys.exit("FAIL: the op table has no rows")
body = [r for r in rows[2:]]  # header, separator

entry_re = re.compile(r"`([\w./-]+\.(?:c|cu|h)):(\w+)`")
sources = {}


def defines(path, func):
    if path not in sources:
        sources[path] = open(path, encoding="utf-8", errors="replace").read().split("\n")
    text = sources[path]
    head = re.compile(r"^[A-Za-z_].*\b%s\s*\(" % re.escape(func))
    for i, l in enumerate(text):
        if not head.match(l):
            continue
        rest = "\n".join(text[i:i + 12])
        brace, semi = rest.find("{"), rest.find(";")
        if brace >= 0 and (semi < 0 or brace < semi):
            return True
    return False


entries = 0
for r in body:
    for cell in r[1:]:
        for path, func in entry_re.findall(cell):
            entries += 1
            full = os.path.join(root, "src", path)
            if C.check(os.path.isfile(full), f"{r[0]}: {path} exists under src/"):
                C.check(defines(full, func), f"{r[0]}: {path} defines {func}()")

# every op of nn/ops.h has its forward and backward in the reference column
ops_h = open(os.path.join(root, "src", "nn", "ops.h"), encoding="utf-8").read()
ops = sorted(set(re.findall(r"^\w[\w\s*]*?\b(\w+)_forward\s*\(", ops_h, re.M)))
ref_cells = " ".join(r[1] for r in body if len(r) > 1)
for op in ops:
    for f in (op + "_forward", op + "_backward"):
        C.check(f":{f}`" in ref_cells, f"the reference column names {f} (nn/ops.h declares it)")
if "softmax_xent" in ops_h:
    C.check(":softmax_xent`" in ref_cells, "the reference column names softmax_xent (nn/ops.h declares it)")
C.check(ops, "src/nn/ops.h declares <op>_forward functions (else the check itself is broken)")
print(f"{entries} file:function entries in {len(body)} rows, {len(ops)} ops of nn/ops.h")
C.done()
