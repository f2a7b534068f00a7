"""Side-by-side CPU benchmark: torchvision's AlexNet (PyTorch, best of NCHW
and channels_last) against `alexnet bench`, same batch, image size, classes
and threads, run alternately in one invocation so that other load on the
machine hits both sides alike. Each side keeps its best round; the table
shows both and the ratio ours / PyTorch.

usage: python3 bench/bench_cpu.py [--alexnet build/alexnet] [--backend dnnl]
           [--torch_python /usr/bin/python3] [--venv DIR]   (or $ALEXNET_TORCH_VENV)
           [--threads 2] [--rounds 2] [--steps 4]
           [--setting RES:BATCH:CLASSES ...]   (default 224:64:1000 64:128:10)
           [--json FILE]
--venv adds a third column: the PyTorch installed in that virtualenv (e.g.
the current release from PyPI), measured in the same alternation.
"""
import argparse, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench_cpu: {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def better(old, new):
    if old is None:
        return new
    out = dict(old)
    for k in ("train_img_s", "infer_img_s", "train_nchw", "train_cl", "infer_nchw", "infer_cl"):
        if k in old:
            out[k] = max(old[k], new[k])
    out["peak_rss_mb"] = max(old["peak_rss_mb"], new["peak_rss_mb"])
    return out


def torch_side(py, s, a):
    """Best of NCHW and channels_last, each in its own process (own peak RSS)."""
    res, batch, classes = s
    base = [py, os.path.join(HERE, "torch_cpu_bench.py"), "--res", str(res), "--batch", str(batch),
            "--classes", str(classes), "--threads", str(a.threads), "--steps", str(a.steps)]
    nchw, cl = run_json(base), run_json(base + ["--channels_last"])
    return {"peer": nchw["peer"],
            "train_img_s": max(nchw["train_img_s"], cl["train_img_s"]),
            "infer_img_s": max(nchw["infer_img_s"], cl["infer_img_s"]),
            "peak_rss_mb": max(nchw["peak_rss_mb"], cl["peak_rss_mb"]),
            "train_nchw": nchw["train_img_s"], "train_cl": cl["train_img_s"],
            "infer_nchw": nchw["infer_img_s"], "infer_cl": cl["infer_img_s"]}


def ours_side(s, a):
    res, batch, classes = s
    cmd = [a.alexnet, "bench", "--image_size", str(res), "--per_batch_size", str(batch), "--num_classes", str(classes),
           "--threads", str(a.threads), "--steps", str(a.steps), "--profile_steps", "0", "--json"]
    if a.backend:
        cmd += ["--backend", a.backend]
    return run_json(cmd)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--alexnet", default=os.path.join(HERE, "..", "build", "alexnet"))
    p.add_argument("--backend", default="")
    p.add_argument("--torch_python", default="/usr/bin/python3")
    p.add_argument("--venv", default=os.environ.get("ALEXNET_TORCH_VENV", ""))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--setting", action="append", default=[])
    p.add_argument("--json", default="")
    a = p.parse_args()
    settings = [tuple(int(v) for v in s.split(":")) for s in (a.setting or ["224:64:1000", "64:128:10"])]
    peers = [("debian", a.torch_python)]
    if a.venv:
        peers.append(("venv", os.path.join(a.venv, "bin", "python")))
    load = os.getloadavg()[0]
    results = []
    for s in settings:
        best = {"ours": None, **{name: None for name, _ in peers}}
        for r in range(a.rounds):
            best["ours"] = better(best["ours"], ours_side(s, a))
            for name, py in peers:
                best[name] = better(best[name], torch_side(py, s, a))
            print(f"  {s[0]}px batch {s[1]} round {r + 1}: ours train {best['ours']['train_img_s']:.1f} "
                  + " ".join(f"{n} {best[n]['train_img_s']:.1f}" for n, _ in peers), file=sys.stderr)
        results.append({"setting": {"res": s[0], "batch": s[1], "classes": s[2], "threads": a.threads}, **best})

    print(f"\nalexnet bench vs torchvision AlexNet, {a.threads} threads, best of {a.rounds} alternating rounds "
          f"of {a.steps} steps (median step each); load average at start {load:.2f}")
    hdr = f"{'setting':<24} {'metric':<8} {'ours':>9}"
    for name, _ in peers:
        hdr += f" {results[0][name]['peer'] + ' (' + name + ')':>28} {'ratio':>6}"
    print(hdr)
    for r in results:
        s = r["setting"]
        tag = f"{s['res']}px b{s['batch']} k{s['classes']}"
        for metric, key, fmt in (("train", "train_img_s", "{:9.1f}"), ("infer", "infer_img_s", "{:9.1f}"),
                                 ("RSS MiB", "peak_rss_mb", "{:9.0f}")):
            line = f"{tag:<24} {metric:<8} " + fmt.format(r["ours"][key])
            for name, _ in peers:
                t = r[name]
                extra = ""
                if key != "peak_rss_mb":
                    m = "train" if key == "train_img_s" else "infer"
                    extra = f" (nchw {t[m + '_nchw']:.1f}, cl {t[m + '_cl']:.1f})"
                line += f" {fmt.format(t[key]) + extra:>28} {r['ours'][key] / t[key]:6.2f}"
            print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
