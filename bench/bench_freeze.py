#!/usr/bin/python3
"""bench_freeze.py — what --freeze saves: our training step with everything
training, with the convolutions frozen (--freeze features) and with only the
last layer training (--freeze backbone), measured interleaved in one
invocation (ROUNDS rounds of the three, median per setting) so that machine
load hits all three alike; prints the ratios to the full step.

usage: bench/bench_freeze.py ALEXNET_BINARY [--image_size 224] [--per_batch_size 64]
                            [--num_classes 1000] [--threads 0] [--rounds 3] [--steps 5] [--precision fp32]
The time is from `alexnet bench --json` (median step over --steps steps,
synthetic data: the step alone, no data loading).
"""
import argparse
import json
import statistics
import subprocess


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("alexnet")
    ap.add_argument("--image_size", type=int, default=224)
    ap.add_argument("--per_batch_size", type=int, default=64)
    ap.add_argument("--num_classes", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--precision", default="fp32", help="fp32 | bf16 | auto (passed to alexnet bench)")
    a = ap.parse_args()
    settings = ["none", "features", "backbone"]
    img_s = {s: [] for s in settings}
    for r in range(a.rounds):
        for s in settings:
            out = subprocess.run([a.alexnet, "bench", "--json", "--freeze", s, "--image_size", str(a.image_size),
                                  "--per_batch_size", str(a.per_batch_size), "--num_classes", str(a.num_classes),
                                  "--threads", str(a.threads), "--steps", str(a.steps), "--profile_steps", "0",
                                  "--precision", a.precision],
                                 check=True, capture_output=True, text=True).stdout
            img_s[s].append(json.loads(out)["train_img_s"])
            print(f"round {r + 1}: --freeze {s:9s} {img_s[s][-1]:8.1f} img/s", flush=True)
    base = statistics.median(img_s["none"])
    print(f"\n{a.image_size} px, batch {a.per_batch_size}, {a.num_classes} classes, {a.precision}, median of {a.rounds} rounds")
    for s in settings:
        m = statistics.median(img_s[s])
        print(f"--freeze {s:9s} {m:8.1f} img/s  {m / base:5.2f}x the full step")


if __name__ == "__main__":
    main()
