#!/usr/bin/python3
"""make_run_test.py — `make run`'s job script (scripts/run-fashion-mnist.sh),
the path a new user takes first: its variables refused before any work
(TOTAL, BUDGET, EPOCHS, EVAL_RESERVE), a budgeted run end to end on a small
dataset under the budget's test clock (the training gets BUDGET as its
--time_budget, the evaluation and the timing lines follow), a second
`make run` that continues the finished run instead of training anew, and a
fixed-epoch run (EPOCHS).

usage: make_run_test.py ALEXNET_BINARY GROUP     (GROUP: check | job)
"""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from check import check, run_group
from cli_common import make_dataset, set_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "run-fashion-mnist.sh")
BIN = None


def job_env(env_extra):
    """This environment without the job's own variables, plus env_extra."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TOTAL", "BUDGET", "EPOCHS", "EVAL_RESERVE", "RUN_START", "EXTRA", "SEED")}
    env.update(env_extra)
    return env


def job(env_extra, *args, timeout=600):
    p = subprocess.run([SCRIPT, *args], env=job_env(env_extra), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def group_check(tmp):
    # make run's first step (`--check - -`): only the durations and lengths, before installing and building
    for env, words in (({"BUDGET": "0"}, ["BUDGET=0", "longer than 0"]),
                       ({"BUDGET": "0m0s"}, ["BUDGET=0m0s"]),
                       ({"BUDGET": "-3m"}, ["-3m", "duration"]),
                       ({"BUDGET": "12 minutes"}, ["duration"]),
                       ({"TOTAL": "0"}, ["TOTAL=0"]),
                       ({"TOTAL": "90s"}, ["TOTAL=90s", "minute"]),
                       ({"TOTAL": "1m30"}, ["duration"]),
                       ({"EPOCHS": "0"}, ["EPOCHS=0"]),
                       ({"EPOCHS": "abc"}, ["EPOCHS=abc"]),
                       ({"EPOCHS": "2.5"}, ["EPOCHS=2.5"]),
                       ({"BUDGET": "5m", "EPOCHS": "3"}, ["BUDGET=5m", "EPOCHS=3", "one of them"]),
                       ({"EVAL_RESERVE": "1m"}, ["EVAL_RESERVE=1m"])):
        rc, so, se = job(env, "--check", "-", "-")
        line = se.strip().splitlines()[0] if se.strip() else ""
        check(rc == 2 and line.startswith("make run:") and all(w in line for w in words),
              f"make run {env}: refused before any work, naming it ({rc}) {line[:200]}")
    for env in ({}, {"BUDGET": "90"}, {"BUDGET": "1h0m"}, {"TOTAL": "2m"}, {"EPOCHS": "08"},
                {"TOTAL": "1h", "BUDGET": "2h"}):
        rc, so, se = job(env, "--check", "-", "-")
        check(rc == 0 and not se.strip(), f"make run {env}: accepted ({rc}) {se.strip()[:200]}")


def group_job(tmp):
    data = os.path.join(tmp, "data")
    for split in ("train", "val"):
        make_dataset(os.path.join(data, split), classes=3, per_class=16, seed=0 if split == "train" else 1)
    small = {"SIZE": "64", "BATCH": "8", "VAL_RESIZE": "70", "WARMUP": "0.5", "EXTRA": "--workers 2 --threads 2 --save_best 0",
             "ALEXNET_BUDGET_CLOCK": "0.5,2"}
    # Ctrl-C in the middle of training: train saves and exits 0; the job stops there (no evaluation of a half-trained
    # model, no "finished")
    run = os.path.join(tmp, "run")
    p = subprocess.Popen([SCRIPT, BIN, data, run], env=job_env({**small, "BUDGET": "25s"}), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    seen = ""
    for line in p.stdout:  # the second epoch's progress: training is under way
        seen += line
        if "epoch 2/" in line:
            os.killpg(p.pid, signal.SIGINT)
            break
    out, err = p.communicate(timeout=300)
    check(p.returncode == 130 and "interrupted" in err and "make run again continues it" in err
          and "finished in" not in seen + out and not os.path.exists(os.path.join(run, "eval.txt")),
          f"Ctrl-C stops the job after train saved: exit 130, no evaluation ({p.returncode}) {err.strip()[-300:]}")
    # make run again: continues the run to the end of its budget, evaluates, says how long each part took
    rc, so, se = job({**small, "BUDGET": "25s"}, BIN, data, run)
    check(rc == 0 and "continuing the run" in so,
          f"make run again continues the interrupted run and finishes ({rc}) {se.strip()[-300:]}")
    cfg = json.load(open(os.path.join(run, "config.json"))) if rc == 0 else {}
    plan = cfg.get("plan", {})
    check(plan.get("time_budget") == 25 and cfg.get("image_size") == 64 and cfg.get("lr_scheduler") == "cosine",
          f"BUDGET=25s is the training's --time_budget, with the recipe's cosine and SIZE ({plan.get('time_budget')}, "
          f"{cfg.get('image_size')}, {cfg.get('lr_scheduler')})")
    ev = {}
    try:
        ev = json.load(open(os.path.join(run, "eval.txt")))
    except (OSError, ValueError):
        pass
    check(ev.get("images") == 48 and 0 <= ev.get("top1", -1) <= 1,
          f"eval.txt holds the final evaluation of the validation set ({ev})")
    check(all(w in so for w in ("make run: finished in", "data preparation", "training", "evaluation",
                                 "model:   " + os.path.join(run, "last.safetensors"))),
          "the job prints how long each part took and where the model is")
    steps = sum(1 for l in open(os.path.join(run, "metrics.jsonl")) if '"step"' in l) if rc == 0 else 0
    rc, so2, se = job({**small, "BUDGET": "25s"}, BIN, data, run)
    check(rc == 0 and "continuing the run" in so2 and "finished its time budget" in so2 and "finished in" in so2,
          f"make run a third time: the run is finished (nothing to train), evaluated again ({rc})")
    steps2 = sum(1 for l in open(os.path.join(run, "metrics.jsonl")) if '"step"' in l) if rc == 0 else -1
    check(steps2 == steps, f"... without training a step more ({steps} -> {steps2} step records)")
    run = os.path.join(tmp, "epochs")
    rc, so, se = job({**small, "EPOCHS": "1"}, BIN, data, run)
    cfg = json.load(open(os.path.join(run, "config.json"))) if rc == 0 else {}
    check(rc == 0 and cfg.get("max_epoch") == 1 and not cfg.get("plan") and "make run: finished in" in so,
          f"EPOCHS=1 trains one fixed epoch, no budget ({rc}, {cfg.get('max_epoch')}) {se.strip()[-300:]}")
    # a DATA folder that is there but holds no train/ and val/ is refused, not filled beside the user's files
    os.makedirs(os.path.join(tmp, "odd", "stuff"))
    rc, so, se = job({**small, "BUDGET": "10s"}, BIN, os.path.join(tmp, "odd"), os.path.join(tmp, "r4"))
    check(rc == 2 and "no train/ and val/" in se and os.listdir(os.path.join(tmp, "odd")) == ["stuff"],
          f"a DATA folder holding something else: refused, left as it was ({rc}) {se.strip()[:200]}")


def main():
    global BIN
    BIN = set_binary(sys.argv[1])
    run_group({"check": group_check, "job": group_job}, sys.argv[2], "make_run")


if __name__ == "__main__":
    main()
