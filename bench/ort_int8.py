"""ONNX Runtime's side of bench/bench_int8.py, run in a virtualenv holding onnxruntime and onnx from PyPI.

  ort_int8.py quantize FP32.onnx INT8.onnx CALIB.npy   its own static quantization (quantize_static: QDQ, u8
                                                      activations, s8 weights per channel, min/max calibration on
                                                      the images in CALIB.npy [N, 3, S, S], normalised)
  ort_int8.py time MODEL.onnx BATCH THREADS STEPS      one JSON line: img/s (median and best of STEPS runs after one
                                                      warm-up), ms per batch
"""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def quantize(src, dst, calib):
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    images = np.load(calib)
    name = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(images[i:i + 1] for i in range(len(images)))

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {name: x}

    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)


def time_model(path, batch, threads, steps):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    size = inp.shape[2] if isinstance(inp.shape[2], int) else 224
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    s.run(None, {inp.name: x})
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        s.run(None, {inp.name: x})
        ts.append(time.perf_counter() - t0)
    med, best = statistics.median(ts), min(ts)
    print(json.dumps({"infer_img_s": batch / med, "infer_img_s_best": batch / best, "ms_per_batch": 1e3 * med,
                      "onnxruntime": ort.__version__}))


if __name__ == "__main__":
    if sys.argv[1] == "quantize":
        quantize(*sys.argv[2:5])
    else:
        time_model(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
