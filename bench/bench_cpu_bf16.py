"""bf16 side-by-side CPU benchmark, one invocation: `alexnet bench` in bf16,
`alexnet bench` in fp32, and torchvision's AlexNet under PyTorch's CPU
autocast bf16 (channels_last, the faster format there), same batch, image
size, classes and threads, run alternately so other load hits all alike.
Each keeps its best round; the table prints img/s and the ratios
ours bf16 / ours fp32 and ours bf16 / PyTorch bf16 of those bests, and
below it the median over rounds of each round's own ratio (the runs of a
round are seconds apart, so a slow drift of the shared machine's speed
cancels in them; with --rounds 5 or more that median is the steadier figure).

usage: python3 bench/bench_cpu_bf16.py [--alexnet build/alexnet]
           [--torch_python /usr/bin/python3] [--venv DIR]   (or $ALEXNET_TORCH_VENV)
           [--threads 2] [--rounds 2] [--steps 4]
           [--setting RES:BATCH:CLASSES ...]   (default 224:64:1000 96:128:10)
           [--json FILE]
"""
import argparse, json, os, statistics, sys

from bench_cpu import HERE, run_json


def ours(s, a, precision):
    res, batch, classes = s
    return run_json([a.alexnet, "bench", "--precision", precision, "--image_size", str(res), "--per_batch_size",
                     str(batch), "--num_classes", str(classes), "--threads", str(a.threads), "--steps", str(a.steps),
                     "--profile_steps", "0", "--json"])


def torch_bf16(py, s, a):
    res, batch, classes = s
    return run_json([py, os.path.join(HERE, "torch_cpu_bench.py"), "--res", str(res), "--batch", str(batch),
                     "--classes", str(classes), "--threads", str(a.threads), "--steps", str(a.steps),
                     "--channels_last", "--bf16"])


def keep_best(old, new):
    if old is None:
        return new
    return {**old, "train_img_s": max(old["train_img_s"], new["train_img_s"]),
            "infer_img_s": max(old["infer_img_s"], new["infer_img_s"])}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--alexnet", default=os.path.join(HERE, "..", "build", "alexnet"))
    p.add_argument("--torch_python", default="/usr/bin/python3")
    p.add_argument("--venv", default=os.environ.get("ALEXNET_TORCH_VENV", ""))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--setting", action="append", default=[])
    p.add_argument("--json", default="")
    a = p.parse_args()
    settings = [tuple(int(v) for v in s.split(":")) for s in (a.setting or ["224:64:1000", "96:128:10"])]
    peers = [("debian", a.torch_python)] + ([("venv", os.path.join(a.venv, "bin", "python"))] if a.venv else [])
    load = os.getloadavg()[0]
    results = []
    for s in settings:
        best = {"bf16": None, "fp32": None, **{n: None for n, _ in peers}}
        rounds = []
        for r in range(a.rounds):
            cur = {"bf16": ours(s, a, "bf16"), "fp32": ours(s, a, "fp32")}
            for n, py in peers:
                cur[n] = torch_bf16(py, s, a)
            rounds.append(cur)
            for k, v in cur.items():
                best[k] = keep_best(best[k], v)
            print(f"  {s[0]}px batch {s[1]} round {r + 1}: bf16 {best['bf16']['train_img_s']:.1f} "
                  f"fp32 {best['fp32']['train_img_s']:.1f} "
                  + " ".join(f"{n} {best[n]['train_img_s']:.1f}" for n, _ in peers), file=sys.stderr)
        paired = {}
        for key in ("train_img_s", "infer_img_s"):
            for k in ["fp32"] + [n for n, _ in peers]:
                paired[f"{key}:bf16/{k}"] = statistics.median(r["bf16"][key] / r[k][key] for r in rounds)
        results.append({"setting": {"res": s[0], "batch": s[1], "classes": s[2], "threads": a.threads}, **best,
                        "paired_median_ratios": paired,
                        "rounds": [{k: {m: v[m] for m in ("train_img_s", "infer_img_s")} for k, v in r.items()}
                                   for r in rounds]})
    print(f"\nalexnet bench bf16 / fp32 vs torchvision AlexNet under CPU autocast bf16 (channels_last), {a.threads} "
          f"threads, best of {a.rounds} alternating rounds of {a.steps} steps (median step each); "
          f"load average at start {load:.2f}")
    hdr = f"{'setting':<20} {'metric':<6} {'ours bf16':>10} {'ours fp32':>10} {'bf16/fp32':>10}"
    for n, _ in peers:
        hdr += f" {results[0][n]['peer'] + ' (' + n + ')':>24} {'ours bf16/it':>12}"
    print(hdr)
    for r in results:
        st = r["setting"]
        tag = f"{st['res']}px b{st['batch']} k{st['classes']}"
        for metric, key in (("train", "train_img_s"), ("infer", "infer_img_s")):
            b, f = r["bf16"][key], r["fp32"][key]
            line = f"{tag:<20} {metric:<6} {b:10.1f} {f:10.1f} {b / f:10.2f}"
            for n, _ in peers:
                line += f" {r[n][key]:24.1f} {b / r[n][key]:12.2f}"
            print(line)
    print(f"\nmedian over the {a.rounds} rounds of each round's ratio (ours bf16 / ...):")
    print(f"{'setting':<20} {'metric':<6} {'/ours fp32':>10}" + "".join(f" {'/' + n:>10}" for n, _ in peers))
    for r in results:
        st = r["setting"]
        tag = f"{st['res']}px b{st['batch']} k{st['classes']}"
        for metric, key in (("train", "train_img_s"), ("infer", "infer_img_s")):
            pr = r["paired_median_ratios"]
            print(f"{tag:<20} {metric:<6} {pr[key + ':bf16/fp32']:10.2f}"
                  + "".join(f" {pr[key + ':bf16/' + n]:10.2f}" for n, _ in peers))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
