#!/usr/bin/env python3
"""Convert MediaPipe's hand models (TFLite, from the mediapipe 0.10.21 wheel) to ONNX.

    python scripts/hand_models/convert.py [--wheel PATH] [--out asl-core/models/hand]

Steps
1. Take the given mediapipe wheel, or `pip download --no-deps mediapipe==0.10.21` into a
   temporary directory.
2. Extract palm_detection_{full,lite}.tflite and hand_landmark_{full,lite}.tflite.
3. Convert each with tflite2onnx 0.4.1, monkeypatched for one bug: the palm detectors
   have PReLU layers whose (fp16) slope tensor is stored with rank 3, shape [1,1,C];
   tflite2onnx propagates the NHWC->NCHW layout to that tensor and crashes indexing a
   4-axis permutation into a 3-axis shape. We treat any rank-3 tensor that receives a
   4-D layout as [1,1,1,C] (a leading batch axis, exactly what tflite2onnx already does
   for the float slope it sees after DEQUANTIZE) before the transform; the result is a
   PRelu slope of shape [1,C,1,1].
4. Check each ONNX file against the TFLite interpreter (tflite-runtime 2.14.0) on random
   inputs in [0,1] and print the largest absolute difference per output.
5. Sort initializers by name (tflite2onnx's order varies between runs) so that the output is
   reproducible byte for byte, and print sha256, inputs/outputs and the ONNX op set of each file (for the README).

Needs the packages pinned in requirements.txt (no TensorFlow).
"""
import argparse
import collections
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

MEDIAPIPE_VERSION = "0.10.21"
MODELS = {
    # output name          path inside the wheel
    "palm_detection_full": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
    "palm_detection_lite": "mediapipe/modules/palm_detection/palm_detection_lite.tflite",
    "hand_landmark_full": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
    "hand_landmark_lite": "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
}
LICENSE_IN_WHEEL = f"mediapipe-{MEDIAPIPE_VERSION}.dist-info/LICENSE"


# --------------------------------------------------------------------------- monkeypatch
def patch_tflite2onnx():
    """Let tflite2onnx 0.4.1 transform rank-3 tensors ([1,1,C] PReLU slopes) to NCHW."""
    from tflite2onnx import tensor as t2o_tensor

    original = t2o_tensor.Tensor.transform
    patched = []

    def transform(self):
        if self.layout is not None and len(self.layout.source) == 4 and len(self.shape) == 3:
            # [1,1,C] (H,W,C without batch) -> [1,1,1,C] (N,H,W,C)
            patched.append((self.name, list(self.shape)))
            self.shape = [1] + list(self.shape)
            if self.isInitializer and self.data is not None:
                self.data = self.data.reshape(self.shape)
        return original(self)

    t2o_tensor.Tensor.transform = transform
    return patched


# --------------------------------------------------------------------------- helpers
def canonicalize(onnx_path):
    """tflite2onnx writes initializers (and value_info) in set order, which changes from run
    to run; sort them by name so that the same input gives byte-identical files."""
    import onnx
    m = onnx.load(onnx_path)
    for field in (m.graph.initializer, m.graph.value_info):
        items = sorted(field, key=lambda t: t.name)
        copies = [type(t)() for t in items]
        for c, t in zip(copies, items):
            c.CopyFrom(t)
        del field[:]
        field.extend(copies)
    onnx.save(m, onnx_path)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def get_wheel(wheel, tmp):
    if wheel:
        return wheel
    subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                           f"mediapipe=={MEDIAPIPE_VERSION}", "-d", tmp])
    [name] = [n for n in os.listdir(tmp) if n.endswith(".whl")]
    return os.path.join(tmp, name)


def dims(value_info):
    return [d.dim_value if d.HasField("dim_value") else d.dim_param
            for d in value_info.type.tensor_type.shape.dim]


def describe(onnx_path):
    """Inputs, outputs, op counts and op attributes of interest of one ONNX file."""
    import onnx
    from onnx import helper
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    inits = {i.name: i for i in m.graph.initializer}
    ops = collections.Counter(n.op_type for n in m.graph.node)
    details = collections.Counter()
    for n in m.graph.node:
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        if n.op_type == "Conv":
            w = inits[n.input[1]]
            group = a.get("group", 1)
            cin_per_group = w.dims[1]
            kind = "depthwise" if group > 1 and cin_per_group == 1 else ("grouped" if group > 1 else "dense")
            pads = a.get("pads", [0, 0, 0, 0])
            asym = pads[0] != pads[2] or pads[1] != pads[3]
            details[f"Conv {kind} k={list(a.get('kernel_shape'))} s={list(a.get('strides', [1, 1]))} "
                    f"pads={'asym' if asym else 'sym'}{list(pads)} "
                    f"dil={list(a.get('dilations', [1, 1]))}"
                    + (" group=C" if kind == "depthwise" else (f" group={group}" if group > 1 else ""))] += 1
        elif n.op_type == "PRelu":
            s = inits[n.input[1]].dims if n.input[1] in inits else "dynamic"
            details[f"PRelu slope rank {len(s)} {'[1,C,1,1]' if len(s) == 4 and s[0] == 1 and s[2] == 1 and s[3] == 1 else list(s)}"] += 1
        elif n.op_type in ("MaxPool", "AveragePool"):
            details[f"{n.op_type} {dict((k, list(v) if isinstance(v, list) else (v.decode() if isinstance(v, bytes) else v)) for k, v in a.items())}"] += 1
        elif n.op_type == "Resize":
            sizes = [int(v) for v in onnx.numpy_helper.to_array(inits[n.input[3]])] if len(n.input) > 3 and n.input[3] in inits else None
            scales = onnx.numpy_helper.to_array(inits[n.input[2]]).tolist() if n.input[2] in inits else None
            details["Resize " + ", ".join(f"{k}={v.decode() if isinstance(v, bytes) else v}" for k, v in sorted(a.items()))
                    + f"; inputs (X, roi, scales={scales}, sizes={sizes})"] += 1
        elif n.op_type == "Pad":
            pads = inits[n.input[1]] if len(n.input) > 1 and n.input[1] in inits else None
            pv = list(onnx.numpy_helper.to_array(pads)) if pads is not None else a.get("pads")
            details[f"Pad mode={a.get('mode', b'constant').decode()} pads={[int(p) for p in pv]}"] += 1
        elif n.op_type in ("Transpose", "Reshape", "Concat", "ReduceMean", "Gemm", "Clip"):
            extra = {k: (list(v) if isinstance(v, list) else v) for k, v in a.items()}
            if n.op_type == "Clip":
                extra = {"min": float(onnx.numpy_helper.to_array(inits[n.input[1]])) if len(n.input) > 1 and n.input[1] in inits else None,
                         "max": float(onnx.numpy_helper.to_array(inits[n.input[2]])) if len(n.input) > 2 and n.input[2] in inits else None}
            details[f"{n.op_type} {extra}"] += 1
    return {
        "opset": [(o.domain or "ai.onnx", o.version) for o in m.opset_import],
        "inputs": [(i.name, dims(i)) for i in m.graph.input if i.name not in inits],
        "outputs": [(o.name, dims(o)) for o in m.graph.output],
        "ops": dict(sorted(ops.items())),
        "details": dict(sorted(details.items())),
        "initializer_dtypes": dict(collections.Counter(
            onnx.TensorProto.DataType.Name(i.data_type) for i in m.graph.initializer)),
    }


def verify(tflite_path, onnx_path, trials=5, seed=0):
    """Max |onnx - tflite| per output on `trials` random inputs in [0,1]."""
    import onnxruntime as ort
    from tflite_runtime.interpreter import Interpreter

    interp = Interpreter(model_path=tflite_path, num_threads=1)
    interp.allocate_tensors()
    [tin] = interp.get_input_details()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    [oin] = sess.get_inputs()
    onames = [o.name for o in sess.get_outputs()]
    rng = np.random.default_rng(seed)
    worst = collections.defaultdict(float)
    ranges = collections.defaultdict(lambda: [np.inf, -np.inf])
    for _ in range(trials):
        x = rng.random(tin["shape"], dtype=np.float32)  # NHWC, [0,1]
        interp.set_tensor(tin["index"], x)
        interp.invoke()
        feed = x if list(oin.shape) == list(tin["shape"]) else x.transpose(0, 3, 1, 2)
        outs = dict(zip(onames, sess.run(None, {oin.name: np.ascontiguousarray(feed)})))
        for d in interp.get_output_details():
            ref = interp.get_tensor(d["index"])
            got = outs[d["name"]]
            assert got.size == ref.size, (d["name"], got.shape, ref.shape)
            got = got.reshape(ref.shape)
            worst[d["name"]] = max(worst[d["name"]], float(np.abs(got - ref).max()))
            ranges[d["name"]][0] = min(ranges[d["name"]][0], float(ref.min()))
            ranges[d["name"]][1] = max(ranges[d["name"]][1], float(ref.max()))
    return {k: (worst[k], ranges[k]) for k in worst}


# --------------------------------------------------------------------------- main
def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", help="mediapipe-0.10.21 wheel (default: pip download it)")
    ap.add_argument("--out", default=os.path.join(repo, "asl-core", "models", "hand"))
    ap.add_argument("--trials", type=int, default=5, help="random inputs per model for the check")
    ap.add_argument("--no-verify", action="store_true")
    args = ap.parse_args()

    import logging
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)
    import tflite2onnx
    assert tflite2onnx.__version__ == "0.4.1", tflite2onnx.__version__
    patched = patch_tflite2onnx()

    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = get_wheel(args.wheel, tmp)
        print(f"wheel: {os.path.basename(wheel)} sha256 {sha256(wheel)}")
        with zipfile.ZipFile(wheel) as z:
            for name, inner in MODELS.items():
                tfl = os.path.join(tmp, name + ".tflite")
                with z.open(inner) as src, open(tfl, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            with z.open(LICENSE_IN_WHEEL) as src, open(os.path.join(args.out, "LICENSE"), "wb") as dst:
                shutil.copyfileobj(src, dst)

        for name, inner in MODELS.items():
            tfl = os.path.join(tmp, name + ".tflite")
            onx = os.path.join(args.out, name + ".onnx")
            if os.path.exists(onx):
                os.remove(onx)
            del patched[:]
            tflite2onnx.convert(tfl, onx)
            canonicalize(onx)
            print(f"\n== {name}.onnx  ({os.path.getsize(onx):,} B, sha256 {sha256(onx)})")
            print(f"   from {inner} ({os.path.getsize(tfl):,} B, sha256 {sha256(tfl)})")
            if patched:
                print(f"   rank-3 tensors given a leading 1 (PReLU slopes): {len(patched)}, "
                      f"e.g. {patched[0][0]} {patched[0][1]}")
            d = describe(onx)
            print(f"   opset {d['opset']}; initializers {d['initializer_dtypes']}")
            for io in ("inputs", "outputs"):
                for n, s in d[io]:
                    print(f"   {io[:-1]:6s} {n!r:32s} {s}")
            print(f"   ops {d['ops']}")
            for k, v in d["details"].items():
                print(f"     {v:3d} x {k}")
            if not args.no_verify:
                for out, (diff, (lo, hi)) in verify(tfl, onx, args.trials).items():
                    print(f"   check vs TFLite: {out!r:32s} max|diff| {diff:.3g}  (tflite range {lo:.3g}..{hi:.3g})")


if __name__ == "__main__":
    main()
