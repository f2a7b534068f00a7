#!/usr/bin/python3
"""golden_torch.py — the PyTorch side of the whole-network golden test.

Builds the torchvision-layout AlexNet (or the 2012 variant with LRN and
grouped convolutions) with dropout disabled, runs 3 momentum-SGD steps with
weight decay on weights only and the seed's label smoothing, and writes the
initial weights, inputs, labels, step-1 logits/loss/gradients, the loss of
each step, the final weights and momentum buffers to a safetensors file that golden_check.c
replays on each backend.

With --autocast the forward runs under torch.autocast("cpu", bfloat16) —
PyTorch's CPU mixed precision: convolutions and linear layers in bf16, fp32
master weights, gradients and optimizer — and the loss is taken on the fp32
logits: the reference for the oneDNN backend's bf16 mode (golden_check ... bf16).

usage: golden_torch.py --backbone alexnet|alexnet_2012 --out FILE [--autocast]
"""
import argparse
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import st_write

SIZE, BATCH, K, STEPS = 67, 4, 10, 3
LR, MOMENTUM, WD, EPS = 0.05, 0.9, 1e-4, 0.1
MIX_LAM = 0.3  # the mixed-target loss's lam (written as mix_lam)


def build(backbone):
    m = torchvision.models.alexnet(num_classes=K, dropout=0.0)
    if backbone == "alexnet_2012":
        lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        m.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, 4, 2), nn.ReLU(inplace=True), lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True), lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
    elif backbone != "alexnet":
        sys.exit(f"unknown backbone {backbone}")
    return m


def seed_smoothed_xent(logits, labels, eps):
    """The seed's label smoothing: 1-eps on the true class, eps/(K-1) elsewhere."""
    k = logits.shape[1]
    target = torch.full_like(logits, eps / (k - 1))
    target.scatter_(1, labels[:, None], 1.0 - eps)
    return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="alexnet")
    ap.add_argument("--out", required=True)
    ap.add_argument("--autocast", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(1234)
    torch.set_num_threads(1)
    model = build(args.backbone)
    names = [n for n, _ in model.named_parameters()]
    out = {f"init.{n}": p.detach().clone() for n, p in model.named_parameters()}

    decay = [p for n, p in model.named_parameters() if not n.endswith(".bias")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith(".bias")]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=LR, momentum=MOMENTUM)
    losses = []
    for step in range(STEPS):
        x = torch.randn(BATCH, 3, SIZE, SIZE)
        y = torch.randint(0, K, (BATCH,))
        out[f"input.{step}"] = x
        out[f"labels.{step}"] = y
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast):
            logits = model(x)
        logits = logits.float()
        loss = seed_smoothed_xent(logits, y, EPS)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            out["logits"] = logits.detach().clone()
            out["loss"] = loss.detach().reshape(1)
            out["loss_torch_form"] = F.cross_entropy(logits.detach(), y, label_smoothing=EPS).reshape(1)
            # torchvision train.py under MixUp/CutMix: soft targets lam * onehot + (1 - lam) * onehot rolled by
            # one (v2.MixUp's _mixup_label), smoothed by the criterion
            # one (v2.MixUp's _mixup_label), smoothed by the criterion; on logits far from uniform (the net's
            # first logits give log(K) whatever the target)
            onehot = F.one_hot(y, K).float()
            mixed = onehot.roll(1, 0).mul_(1.0 - MIX_LAM).add_(onehot.mul(MIX_LAM))
            out["mix_lam"] = torch.tensor([MIX_LAM])
            out["mix_logits"] = torch.randn(BATCH, K) * 3
            out["loss_torch_mixed"] = F.cross_entropy(out["mix_logits"], mixed, label_smoothing=EPS).reshape(1)
            out["loss_torch_unmixed"] = F.cross_entropy(out["mix_logits"], y, label_smoothing=EPS).reshape(1)
            for n, p in model.named_parameters():
                out[f"grad.{n}"] = p.grad.detach().clone()
        opt.step()
    out["losses"] = torch.tensor(losses)
    for n, p in model.named_parameters():
        out[f"final.{n}"] = p.detach().clone()
        out[f"momentum.{n}"] = opt.state[p]["momentum_buffer"].detach().clone()
    st_write.save(args.out, out, {"backbone": args.backbone, "params": ",".join(names), "lr": LR,
                                  "momentum": MOMENTUM, "weight_decay": WD, "smoothing": EPS,
                                  "precision": "bf16" if args.autocast else "fp32"})
    print(f"wrote {args.out}: {len(out)} tensors, losses {losses}")


if __name__ == "__main__":
    main()
