#!/usr/bin/python3
"""code_rules.py — rules of the source that a class of defects depends on, so
that a new file cannot quietly break them (issue 24's and 25's "one X where
the class lives"):

- one JSON writer: no cJSON printing or string/number creation, and no JSON
  written by printf, outside src/common/json.c (which makes strings UTF-8 and
  numbers exact, and writes null for what is not finite);
- environment switches read once: no getenv of an ALEXNET_* name outside
  src/common/env.c, and docs/ENVIRONMENT.md lists exactly the switches of
  its table (ALEXNET_ENV_SWITCHES in src/common/env.h), with their defaults;
- one checked open for outside files: no fopen(..., "r"...) of a path a user
  gives outside src/common/util.c (fopen_regular) — the allowed fopen calls
  read /proc, /sys and /etc files of the system;
- the vtable is private to src/backend/: no `vt->` outside it.

usage: code_rules.py REPO_ROOT
"""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import check, checker

root = os.path.abspath(sys.argv[1])
src = {os.path.relpath(p, root): open(p, encoding="utf-8").read()
       for p in glob.glob(os.path.join(root, "src", "**", "*.[ch]"), recursive=True) +
       glob.glob(os.path.join(root, "src", "**", "*.cu"), recursive=True)}
check(len(src) > 50, f"the sources were found ({len(src)} files)")


def uses(pattern, allowed):
    return sorted(f"{p}:{s[:m.start()].count(chr(10)) + 1}" for p, s in src.items() if p not in allowed
                  for m in re.finditer(pattern, s))


bad = uses(r"cJSON_(Print|PrintUnformatted|AddStringToObject|AddNumberToObject|CreateString|CreateNumber|"
           r"AddRawToObject|CreateRaw)\s*\(", {"src/common/json.c"})
check(not bad, f"cJSON writes only in src/common/json.c ({bad})")
bad = uses(r'printf\s*\(\s*"\{', set())
check(not bad, f"no JSON written by printf ({bad})")

bad = uses(r'getenv\s*\(\s*"ALEXNET_', {"src/common/env.c"})
check(not bad, f"ALEXNET_* switches read only in src/common/env.c ({bad})")
table = re.findall(r'X\(ENV_\w+, \w+, "(ALEXNET_\w+)", ("[^"]*"|-?\d+)', src["src/common/env.h"])
doc = open(os.path.join(root, "docs", "ENVIRONMENT.md"), encoding="utf-8").read()
documented = dict(re.findall(r"^\| `(ALEXNET_\w+)` \| ([^|]+) \|", doc, re.M))
check(len(table) >= 10, f"the switch table was read ({len(table)} switches)")
check({n for n, _ in table} == set(documented), f"docs/ENVIRONMENT.md lists exactly the switches of env.h "
      f"(missing {sorted({n for n, _ in table} - set(documented))}, extra {sorted(set(documented) - {n for n, _ in table})})")
for name, default in table:
    want = "(none)" if default == '""' else default
    check(documented.get(name, "").strip() == want, f"{name}: default {want} in the docs ({documented.get(name)})")

bad = [f for f in uses(r'\bfopen\s*\(\s*[^,]+,\s*"r', {"src/common/util.c"})]
bad = [f for f in bad if not re.search(r'fopen\s*\(\s*"/(proc|sys|etc)/', src[f.split(":")[0]].splitlines()[int(f.split(":")[1]) - 1])]
check(not bad, f"files from users are opened with fopen_regular/open_regular_file, not fopen ({bad})")

bad = uses(r"\bvt->", {p for p in src if p.startswith("src/backend/")})
check(not bad, f"the backend vtable is used only inside src/backend/ ({bad})")
checker().done()
