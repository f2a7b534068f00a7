"""`alexnet bench` of this machine's build (Debian 12: oneDNN 2.6) against a
build inside a Debian root (e.g. Debian 13: oneDNN 3.7, via
scripts/in-root.sh), run alternately in one invocation so that other load on
the machine hits both alike; each side keeps its best round. An optional
third side reruns the host build with ALEXNET_DNNL_WINOGRAD=0 (2.6's direct
kernels, what 3.x has left on x64).

usage: python3 bench/bench_debian.py ROOT [--bind DIR] [--root_alexnet build/alexnet]
           [--alexnet build/alexnet] [--no_winograd] [--rounds 2] [--steps 3]
           [--setting RES:BATCH:CLASSES ...]   (default 224:64:1000 64:128:10)
ROOT and --bind as for scripts/in-root.sh (needs root); --root_alexnet is
relative to /alexnet inside the root.
"""
import argparse, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
IN_ROOT = os.path.join(HERE, "..", "scripts", "in-root.sh")


def run_json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"bench_debian: {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_args(s, a):
    res, batch, classes = s
    return ["bench", "--image_size", str(res), "--per_batch_size", str(batch), "--num_classes", str(classes),
            "--threads", str(a.threads), "--steps", str(a.steps), "--profile_steps", "0", "--json"]


def keep_best(old, new):
    if old is None:
        return new
    return {k: max(old[k], new[k]) for k in ("train_img_s", "infer_img_s", "peak_rss_mb")}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--bind", default="")
    p.add_argument("--root_alexnet", default="build/alexnet")
    p.add_argument("--alexnet", default=os.path.join(HERE, "..", "build", "alexnet"))
    p.add_argument("--no_winograd", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--setting", action="append", default=[])
    a = p.parse_args()
    settings = [tuple(int(v) for v in s.split(":")) for s in (a.setting or ["224:64:1000", "64:128:10"])]
    bind = ["--bind", a.bind] if a.bind else []
    sides = [("host", lambda s: run_json([a.alexnet] + bench_args(s, a))),
             ("root", lambda s: run_json([IN_ROOT, a.root] + bind + [" ".join([a.root_alexnet] + bench_args(s, a))]))]
    if a.no_winograd:
        env = dict(os.environ, ALEXNET_DNNL_WINOGRAD="0")
        sides.append(("host_no_wino", lambda s: run_json([a.alexnet] + bench_args(s, a), env)))
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for s in settings:
        best = {name: None for name, _ in sides}
        for r in range(a.rounds):
            for name, fn in sides:
                out = fn(s)
                print(f"  {s} round {r + 1} {name}: train {out['train_img_s']:.1f} infer {out['infer_img_s']:.1f} "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
                best[name] = keep_best(best[name], out)
        rows.append((s, best))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    head = "| setting | metric | " + " | ".join(n for n, _ in sides) + " | root / host |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for (res, batch, classes), best in rows:
        for k, label in (("train_img_s", "train img/s"), ("infer_img_s", "inference img/s"), ("peak_rss_mb", "peak RSS MiB")):
            vals = " | ".join(f"{best[n][k]:.1f}" for n, _ in sides)
            print(f"| {res} px, batch {batch}, {classes} classes | {label} | {vals} | "
                  f"{best['root'][k] / best['host'][k]:.2f} |")


if __name__ == "__main__":
    main()
