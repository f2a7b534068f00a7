"""check.py — how every Python test counts its checks and ends.

A script makes one Checker (or uses the module-level check() and run_group(),
which share one), calls check(ok, what) for each check, and ends with done().
It exits:
  0   every check passed, and at least one ran;
  1   a check failed, or none ran (a group that returned early, or a loop
      over nothing, proves nothing and must not look like a pass);
  77  skip(why): this machine lacks something the test needs (root, a
      package, a network), said in the output; ctest shows it as skipped
      where the test is registered with SKIP_RETURN_CODE 77.
"""
import os
import shutil
import sys
import tempfile


class Checker:
    """Counts checks; quiet=True prints passing checks only with TEST_VERBOSE set."""

    def __init__(self, name, quiet=False):
        self.name, self.quiet, self.fails, self.checks = name, quiet, 0, 0

    def check(self, ok, what):
        self.checks += 1
        if not ok:
            self.fails += 1
            print(f"FAIL: {what}", flush=True)
        elif not self.quiet or os.environ.get("TEST_VERBOSE"):
            print(f"ok:   {what}", flush=True)
        return bool(ok)

    def done(self):
        """Prints the summary and exits with the status above."""
        if self.fails:
            print(f"{self.name}: {self.fails} of {self.checks} checks FAILED", flush=True)
            sys.exit(1)
        if self.checks == 0:
            print(f"{self.name}: no checks ran: FAILED", flush=True)
            sys.exit(1)
        print(f"{self.name}: all {self.checks} checks passed", flush=True)
        sys.exit(0)


_default = None


def checker(name=None):
    """The script's shared Checker (made on first use)."""
    global _default
    if _default is None:
        _default = Checker(name or os.path.basename(sys.argv[0]))
    return _default


def check(ok, what):
    return checker().check(ok, what)


def skip(why):
    """Exit 77 because this machine lacks something (say what): never for a failure, so a check that
    failed before the skip still fails the test."""
    if _default is not None and _default.fails:
        print(f"SKIP (the rest): {why}", flush=True)
        _default.done()
    print(f"SKIP: {why}", flush=True)
    sys.exit(77)


def run_group(groups, name, prefix):
    """Runs groups[name](tmp) in a fresh temporary folder, then ends the script (done())."""
    if name not in groups:
        print(f"unknown group '{name}' (groups: {', '.join(groups)})")
        sys.exit(2)
    c = checker(f"{prefix}_{name}")
    tmp = tempfile.mkdtemp(prefix=f"alexnet-{prefix}-{name}-")
    try:
        groups[name](tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    c.done()
