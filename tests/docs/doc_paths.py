#!/usr/bin/python3
"""doc_paths.py — every repository path that README.md and docs/*.md name
exists in the repository (and none points outside it, like shared/...).

usage: doc_paths.py REPO_ROOT [--list]

A "path" is a token that starts with one of the repository's top-level
folders (src/, tests/, bench/, docs/, scripts/, cmake/, ...) or names a
top-level file (Makefile, CMakeLists.txt, ...), plus any token starting with
shared/ (a folder outside the project). Tokens with placeholders (<name>,
CAPITALS such as DIR or RUN) are patterns, not paths, and are skipped;
globs (*) must match at least one file. Output folders the programs create
(runs/, data/, build/) are not repository paths.
"""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import Checker

C = Checker("doc_paths", quiet=True)

root = os.path.abspath(sys.argv[1])
listing = "--list" in sys.argv
top = sorted(e for e in os.listdir(root) if not e.startswith(".") and e not in ("build", "build-asan", "runs", "data"))
top_dirs = [e for e in top if os.path.isdir(os.path.join(root, e))]
top_files = [e for e in top if os.path.isfile(os.path.join(root, e))]
prefixes = "|".join(re.escape(d) for d in top_dirs + ["shared"])
path_re = re.compile(r"(?<![\w./-])((?:%s)/[\w.*/<>{}-]*)" % prefixes)
file_re = re.compile(r"(?<![\w./-])(%s)(?![\w.-])" % "|".join(re.escape(f) for f in top_files)) if top_files else None

docs = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
checked = 0
for doc in docs:
    rel_doc = os.path.relpath(doc, root)
    for lineno, line in enumerate(open(doc, encoding="utf-8"), 1):
        found = [m.group(1) for m in path_re.finditer(line)]
        if file_re:
            found += [m.group(1) for m in file_re.finditer(line)]
        for p in found:
            p = p.rstrip(".,:;)")
            if p.startswith("shared/"):
                C.check(False, f"{rel_doc}:{lineno}: {p} is outside the repository")
                continue
            if "<" in p or "{" in p or re.search(r"/[A-Z][A-Z_]+(/|$)", p):
                continue  # a pattern (src/backend/<name>/, runs/RUN/...)
            checked += 1
            if listing:
                print(f"{rel_doc}:{lineno}: {p}")
            full = os.path.join(root, p)
            C.check(glob.glob(full) if "*" in p else os.path.exists(full), f"{rel_doc}:{lineno}: {p} exists")
print(f"{checked} paths named in {len(docs)} documents")
C.done()
