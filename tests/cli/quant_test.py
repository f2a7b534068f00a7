#!/usr/bin/env python3
"""quant_test.py — int8 models (issue 28): `alexnet quantize`, the int8 file, --precision int8.

 - a model trained here for a few steps (64 px, 3 classes of PNG images) is quantized with each --method; the file
   holds I8 weights, F32 per-channel weight scales, an F32 input scale and a U8 zero point per layer, and the
   scheme in its metadata, at a quarter of the fp32 file's size;
 - the reference backend's int8 logits (predict --precision int8 --logits) against this file's own restatement of
   the scheme in torch: u8 = clamp(round(x / scale) + zero), integer sums in float64 (exact), the float32
   scale product, times the sum, plus the bias; fp32 ReLU and pooling between (64 px: conv5's map is 1x1, so the
   adaptive pool copies). Tolerance: 0, the same float32 operations in the same order;
 - the dnnl backend's int8 logits (oneDNN's u8 x s8 kernels, VNNI) against the reference's: max |diff| <= 1e-2 of
   max |logit| (test_backend_ops' int8 bound: one rounding of a fused multiply-add, then at most a u8 step at a
   rounding tie; measured 0 on oneDNN 2.6); auto picks dnnl for an int8 file where it runs int8, and where it
   can't (ONEDNN_MAX_CPU_ISA=AVX2: no VNNI) --backend dnnl is refused naming VNNI and auto runs the reference,
   saying so;
 - eval --precision int8's top-1 recomputed from predict's int8 logits of the same images; int8 and fp32 agree on
   most predictions; auto picks int8 for an int8 file; --fp32_layers keeps those layers fp32;
 - hostile int8 files (NaN, zero, negative, subnormal and infinite scales, scales whose product overflows, a
   weight of -128, a zero point of another dtype, scales of another shape, a missing tensor, an int8 claim with no
   int8 layer) refused with exit 2 naming the tensor;
 - commands that cannot use an int8 model refuse it saying so (train, average; export below opset 13),
   --precision int8 on an fp32 model, the dnnl backend's int8, bad quantize flags.

usage: quant_test.py ALEXNET
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import st_write
from check import Checker
from cli_common import run, set_binary

BIN = os.path.abspath(sys.argv[1])
set_binary(BIN)
C = Checker("quant", quiet=True)
tmp = tempfile.mkdtemp(prefix="alexnet_quant_")
S = 64
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def alexnet(*args, timeout=900):
    return run([str(a) for a in args], timeout=timeout)


# ---- a small trained model on PNG images (exact eval transform) -------------------------------------------------
data = os.path.join(tmp, "data")
rng = np.random.default_rng(0)
for c in range(3):
    os.makedirs(os.path.join(data, f"class_{c}"))
    for i in range(16):
        a = (rng.random((70, 76, 3)) * 90).astype(np.uint8)
        a[:, :, c] += 120
        a[(c * 9) % 60:(c * 9) % 60 + 8, :, :] = 250
        Image.fromarray(a).save(os.path.join(data, f"class_{c}", f"img_{i:02d}.png"))
run_dir = os.path.join(tmp, "run")
rc, so, se = alexnet("train", "--data_dir", data, "--out", run_dir, "--image_size", S, "--per_batch_size", 8,
                     "--max_epoch", 2, "--lr", 0.01, "--warmup_epochs", 0, "--threads", 2, "--workers", 2,
                     "--seed", 5)
fp32 = os.path.join(run_dir, "last.safetensors")
C.check(rc == 0 and os.path.exists(fp32), f"trained a 64 px model to quantize (rc={rc}) {se[-300:]}")
if rc != 0:
    C.done()

# ---- quantize with each method --------------------------------------------------------------------------------
files = {}
for method in ("minmax", "percentile", "entropy"):
    out = os.path.join(tmp, f"q_{method}.safetensors")
    rc, so, se = alexnet("quantize", "--pretrained", fp32, "--calib_dir", data, "--calib_images", 30, "--method",
                         method, "--out", out, "--threads", 2)
    ok = rc == 0 and os.path.exists(out)
    tensors, meta = st_write.load(out) if ok else ({}, {})
    layers = [k[:-len(".weight")] for k in tensors if k.endswith(".weight")]
    shapes_ok = ok and len(layers) == 8 and all(
        tensors[f"{l}.weight"].dtype == torch.int8 and tensors[f"{l}.weight_scale"].dtype == torch.float32 and
        tensors[f"{l}.weight_scale"].shape == (tensors[f"{l}.weight"].shape[0],) and
        tensors[f"{l}.input_scale"].shape == (1,) and tensors[f"{l}.input_zero_point"].dtype == torch.uint8 and
        tensors[f"{l}.bias"].dtype == torch.float32 and bool((tensors[f"{l}.weight_scale"] > 0).all())
        for l in layers)
    C.check(shapes_ok and "int8" in meta.get("quantization", "") and meta.get("quant_method") == method and
            meta.get("calib_images") == "30",
            f"quantize --method {method}: I8 weights, per-channel F32 scales, an input scale and U8 zero point per "
            f"layer, the scheme in the metadata (rc={rc}) {se[-300:]}")
    files[method] = (out, tensors, meta)
if not all(os.path.exists(f[0]) for f in files.values()):
    C.done()
size_ratio = os.path.getsize(files["minmax"][0]) / os.path.getsize(fp32)
C.check(size_ratio < 0.3, f"the int8 file is {size_ratio:.2f} of the fp32 file's size")
first_zero = files["minmax"][1]["features.0.input_zero_point"].item()
C.check(0 < first_zero < 255, f"the first layer's input (a normalised image, signed) gets a zero point inside u8: "
                              f"{first_zero}")
C.check(all(files["minmax"][1][f"{l}.input_zero_point"].item() == 0 for l in
            ("features.3", "features.6", "classifier.1", "classifier.6")),
        "inputs after a ReLU get zero point 0")
mm, ent = files["minmax"][1], files["entropy"][1]
C.check(all(ent[f"{l}.input_scale"].item() <= mm[f"{l}.input_scale"].item() * 1.0001 for l in
            ("features.3", "features.6", "features.8", "features.10", "classifier.1", "classifier.4")),
        "entropy and percentile thresholds never exceed the min/max range")


# ---- the int8 forward restated in torch ----------------------------------------------------------------------
def eval_tensor(path, meta):
    crop = int(meta.get("val_crop_size", S))
    resize = int(meta.get("val_resize_size", 0))
    r = T.Resize((round(crop * 256 / 224),) * 2) if resize == 0 else T.Resize(resize)
    img = T.CenterCrop(crop)(r(Image.open(path).convert("RGB")))
    return T.Normalize(MEAN, STD)(T.ToTensor()(img))


def int8_layer(x, t, name, conv=None):
    s = t[f"{name}.input_scale"].to(torch.float32)
    z = t[f"{name}.input_zero_point"].to(torch.float32)
    q = torch.clamp(torch.round(x / s) + z, 0, 255) - z
    w = t[f"{name}.weight"].to(torch.float64)
    if conv:
        acc = F.conv2d(q.to(torch.float64), w, stride=conv[0], padding=conv[1])
        scale = (s * t[f"{name}.weight_scale"]).reshape(1, -1, 1, 1)
        bias = t[f"{name}.bias"].reshape(1, -1, 1, 1)
    else:
        acc = q.to(torch.float64) @ w.t()
        scale, bias = (s * t[f"{name}.weight_scale"]).reshape(1, -1), t[f"{name}.bias"].reshape(1, -1)
    return acc.to(torch.float32) * scale + bias


def torch_int8(x, t):
    x = F.relu(int8_layer(x, t, "features.0", (4, 2)))
    x = F.max_pool2d(x, 3, 2)
    x = F.max_pool2d(F.relu(int8_layer(x, t, "features.3", (1, 2))), 3, 2)
    x = F.relu(int8_layer(x, t, "features.6", (1, 1)))
    x = F.relu(int8_layer(x, t, "features.8", (1, 1)))
    x = F.max_pool2d(F.relu(int8_layer(x, t, "features.10", (1, 1))), 3, 2)
    x = torch.flatten(F.adaptive_avg_pool2d(x, (6, 6)), 1)
    x = F.relu(int8_layer(x, t, "classifier.1"))
    x = F.relu(int8_layer(x, t, "classifier.4"))
    return int8_layer(x, t, "classifier.6")


images = sorted(os.path.join(data, c, f) for c in os.listdir(data) for f in os.listdir(os.path.join(data, c)))
labels = [int(os.path.basename(os.path.dirname(p)).split("_")[1]) for p in images]


def predict(model, precision, extra=(), env=None):
    rc, so, se = run(["predict", "--pretrained", model, "--precision", precision, "--json", "--logits",
                      "--threads", "2", *extra, data], timeout=900, env=env)
    out = {}
    for line in so.splitlines():
        o = json.loads(line)
        if "logits" in o:
            out[o["file"]] = np.array(o["logits"], np.float32)
    return rc, out, se


for method, (path, t, meta) in files.items():
    rc, got, se = predict(path, "int8", ["--backend", "ref"])
    # one batch: the float64 sums are exact whatever the order, the float32 steps elementwise
    batch = torch_int8(torch.stack([eval_tensor(p, meta) for p in images]), t).numpy()
    want = dict(zip(images, batch))
    worst = max((float(np.abs(got[p] - want[p]).max()) for p in images if p in got), default=float("inf"))
    C.check(rc == 0 and len(got) == len(images) and worst == 0.0,
            f"{method}: the ref backend's int8 logits of {len(images)} images equal the scheme restated in torch "
            f"(max |diff| {worst:.3g}) {se[-200:]}")

# ---- the dnnl backend's int8 path -----------------------------------------------------------------------------
avx2 = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2")
rc_d, got_ref, _ = predict(files["percentile"][0], "int8", ["--backend", "ref"])
rc_d, got_dnnl, se_d = predict(files["percentile"][0], "int8", ["--backend", "dnnl"])
if rc_d == 2 and "not built" in se_d:
    print("note: this build has no dnnl backend: its int8 path is not checked here")
elif rc_d == 2 and "VNNI" in se_d:
    print("note: this CPU has no VNNI (AVX512_VNNI or AVX-VNNI): the dnnl int8 path is refused here, as it must be")
else:
    worst = max((float(np.abs(got_dnnl[p] - got_ref[p]).max() / np.abs(got_ref[p]).max()) for p in images
                 if p in got_dnnl), default=float("inf"))
    C.check(rc_d == 0 and len(got_dnnl) == len(images) and worst <= 1e-2,
            f"the dnnl backend's int8 logits equal the reference's within 1e-2 of the largest (worst {worst:.3g}) "
            f"{se_d[-200:]}")
    rc, so, se = alexnet("eval", "--data_dir", data, "--pretrained", files["percentile"][0], "--json", "--threads", 2)
    C.check(rc == 0 and "dnnl backend, int8" in se, f"auto runs an int8 file on dnnl where it can ({rc}) {se[-200:]}")
    rc, so, se = run(["eval", "--data_dir", data, "--pretrained", files["percentile"][0], "--backend", "dnnl"],
                     env=avx2)
    C.check(rc == 2 and "VNNI" in se and "--backend ref" in se,
            f"without VNNI (ONEDNN_MAX_CPU_ISA=AVX2) dnnl refuses int8 naming VNNI and the way out ({rc}) {se[-300:]}")
    rc, so, se = run(["eval", "--data_dir", data, "--pretrained", files["percentile"][0], "--threads", "2"],
                     env=avx2, timeout=900)
    C.check(rc == 0 and "ref backend, int8" in so + se and "note: int8 runs on the reference backend" in se,
            f"without VNNI auto runs the int8 file on the reference, saying so ({rc}) {se[-300:]}")

# ---- eval's figure, agreement with fp32, auto, --fp32_layers ---------------------------------------------------
path = files["percentile"][0]
rc, so, se = alexnet("eval", "--data_dir", data, "--pretrained", path, "--precision", "int8", "--json", "--threads", 2)
ev = json.loads(so.strip().splitlines()[-1]) if rc == 0 else {}
rc2, got, _ = predict(path, "int8")
top1 = np.mean([int(np.argmax(got[p]) == l) for p, l in zip(images, labels)]) if got else -1
C.check(rc == 0 and ev.get("images") == len(images) and abs(ev.get("top1", -1) - top1) < 1e-9 and "int8" in se,
        f"eval --precision int8: top-1 {ev.get('top1')} is predict's int8 logits' ({top1}), and says int8 {se[-200:]}")
rc3, got32, _ = predict(fp32, "fp32", ["--backend", "ref"])
agree = np.mean([int(np.argmax(got[p]) == np.argmax(got32[p])) for p in images]) if got and got32 else 0
C.check(agree >= 0.9, f"int8 and fp32 predict the same class for {100 * agree:.0f}% of the images (>= 90%)")
rc, so, se = alexnet("eval", "--data_dir", data, "--pretrained", path, "--json", "--threads", 2)
C.check(rc == 0 and "int8" in se, f"--precision auto (the default) runs an int8 file in int8 ({rc}) {se[-200:]}")
rc, so, se = alexnet("eval", "--data_dir", data, "--pretrained", path, "--precision", "fp32", "--json")
C.check(rc == 0 and "fp32" in se, f"--precision fp32 runs an int8 file's dequantized weights in fp32 ({rc}) {se[-200:]}")
keep = os.path.join(tmp, "q_keep.safetensors")
rc, so, se = alexnet("quantize", "--pretrained", fp32, "--calib_dir", data, "--calib_images", 12, "--fp32_layers",
                     "first,last", "--out", keep)
t, meta = st_write.load(keep) if rc == 0 else ({}, {})
C.check(rc == 0 and t["features.0.weight"].dtype == torch.float32 and t["classifier.6.weight"].dtype == torch.float32
        and "features.0.input_scale" not in t and t["features.3.weight"].dtype == torch.int8,
        f"--fp32_layers first,last keeps those two fp32 ({rc}) {se[-200:]}")
rc, got_keep, se = predict(keep, "int8")
C.check(rc == 0 and len(got_keep) == len(images), f"a partly int8 file runs ({rc}) {se[-200:]}")

# ---- hostile files --------------------------------------------------------------------------------------------
base, base_meta = files["minmax"][1], files["minmax"][2]


def hostile(name, edit, meta_edit=None, words=()):
    t = {k: v.clone() for k, v in base.items()}
    m = dict(base_meta)
    edit(t)
    if meta_edit:
        meta_edit(m)
    p = os.path.join(tmp, f"bad_{name}.safetensors")
    st_write.save(p, t, m)
    rc, so, se = alexnet("eval", "--data_dir", data, "--pretrained", p, "--json")
    C.check(rc == 2 and p in se and all(w in se for w in words) and "Traceback" not in se,
            f"hostile int8 file ({name}): refused with exit 2 naming the file {list(words)} ({rc}) {se[-300:]}")


def set_(key, value):
    return lambda t: t[key].fill_(value)


hostile("nan scale", set_("features.6.weight_scale", float("nan")), words=("features.6.weight_scale",))
hostile("zero scale", set_("classifier.1.input_scale", 0.0), words=("classifier.1.input_scale",))
hostile("negative scale", set_("features.0.weight_scale", -0.5), words=("features.0.weight_scale",))
hostile("inf scale", set_("features.3.input_scale", float("inf")), words=("features.3.input_scale",))
hostile("zero point dtype", lambda t: t.update({"features.3.input_zero_point": torch.zeros(1, dtype=torch.int32)}),
        words=("features.3.input_zero_point",))
hostile("scale shape", lambda t: t.update({"features.8.weight_scale": torch.ones(3)}), words=("features.8.weight_scale",))
hostile("missing input scale", lambda t: t.pop("classifier.4.input_scale"), words=("classifier.4.input_scale",))
hostile("weight shape", lambda t: t.update({"features.10.weight": torch.zeros(256, 256, 3, 2, dtype=torch.int8)}),
        words=("features.10.weight",))
hostile("nan bias", set_("features.0.bias", float("nan")), words=("features.0.bias",))
hostile("subnormal scale", set_("features.3.weight_scale", 1e-40), words=("features.3.weight_scale",))


def overflowing_product(t):  # each scale below the 1e30 bound, their product beyond a float's range
    t["features.3.input_scale"].fill_(1e20)
    t["features.3.weight_scale"].fill_(1e20)


hostile("scale product", overflowing_product, words=("features.3.weight", "overflows"))
hostile("weight -128", lambda t: t["classifier.1.weight"].view(-1)[5].fill_(-128), words=("classifier.1.weight", "-128"))


def all_fp32(t):
    for k in list(t):
        if k.endswith((".weight_scale", ".input_scale", ".input_zero_point")):
            t.pop(k)
        elif k.endswith(".weight"):
            t[k] = t[k].to(torch.float32)


hostile("no int8 layer", all_fp32, words=("int8",))

# ---- commands that cannot use an int8 model, bad flags ---------------------------------------------------------
for args, words, what in (
        (["train", "--data_dir", data, "--out", os.path.join(tmp, "t2"), "--pretrained", path, "--max_epoch", "1",
          "--per_batch_size", "8"],
         ("int8 model", "fp32 model"), "train --pretrained INT8"),
        (["average", path, fp32, "--out", os.path.join(tmp, "avg.safetensors")], ("int8 model",), "average"),
        (["export", "--pretrained", path, "--out", os.path.join(tmp, "m.onnx"), "--opset", "11"], ("--opset 13",),
         "export of an int8 model at opset 11 (QDQ needs 13: tests/cli/onnx_test.py runs it)"),
        (["eval", "--data_dir", data, "--pretrained", fp32, "--precision", "int8"], ("alexnet quantize",),
         "--precision int8 on an fp32 model"),
        (["quantize", "--pretrained", fp32, "--calib_dir", data, "--out", os.path.join(tmp, "x"), "--method", "mse"],
         ("--method",), "quantize --method mse"),
        (["quantize", "--pretrained", fp32, "--calib_dir", data], ("--out",), "quantize without --out"),
        (["quantize", "--pretrained", path, "--calib_dir", data, "--out", os.path.join(tmp, "x")], ("int8 model",),
         "quantize of an int8 model"),
        (["quantize", "--pretrained", fp32, "--calib_dir", os.path.join(tmp, "none"), "--out", os.path.join(tmp, "x")],
         ("none",), "quantize with a calibration folder that is not there")):
    rc, so, se = alexnet(*args)
    if args[0] == "export" and rc == 2 and "not built" in se:
        words = ()
    C.check(rc == 2 and all(w in se for w in words) and not os.path.exists(os.path.join(tmp, "x")),
            f"{what}: refused with exit 2 saying why ({rc}) {se[-300:]}")

shutil.rmtree(tmp, ignore_errors=True)
C.done()
