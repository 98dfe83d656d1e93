#!/usr/bin/env python3
"""Print the MediaPipe graphs that MediaPipe Hands runs, as text protos, from the installed
mediapipe 0.10.21 wheel (the source of every constant in pipeline_numpy.py).

    python scripts/hand_models/dump_graphs.py > graphs.pbtxt

The top graph ships as mediapipe/modules/hand_landmark/hand_landmark_tracking_cpu.binarypb.
Its subgraphs (PalmDetectionCpu, PalmDetectionDetectionToRoi, HandLandmarkCpu, ...) are not
shipped as files: they are compiled into _framework_bindings*.so as serialized
CalculatorGraphConfig protos. We find each by its `type` field (field 20, the last one
written) and search backwards for the start offset at which the bytes parse as a graph
with that type (the earliest such offset is the whole message).
"""
import glob
import importlib
import os
import pkgutil
import re
import sys

import mediapipe
from google.protobuf import text_format
from mediapipe.framework import calculator_pb2

SUBGRAPHS = ["PalmDetectionCpu", "PalmDetectionModelLoader", "PalmDetectionDetectionToRoi",
             "HandLandmarkCpu", "HandLandmarkModelLoader", "HandLandmarkLandmarksToRoi"]


def load_option_extensions():
    # every *_pb2 module, so that the calculators' option extensions print by name
    for m in pkgutil.walk_packages(mediapipe.__path__, "mediapipe."):
        if m.name.endswith("_pb2"):
            try:
                importlib.import_module(m.name)
            except Exception:
                pass


def find_subgraph(blob, name, window=60000):
    nb = name.encode()
    tag = b"\xa2\x01" + bytes([len(nb)]) + nb      # field 20 (type), length-delimited
    for m in re.finditer(re.escape(tag), blob):
        end = m.end()
        best = None
        for start in range(end - 1, max(0, end - window), -1):
            if blob[start] != 0x0A:                  # field 1 (node), length-delimited
                continue
            g = calculator_pb2.CalculatorGraphConfig()
            try:
                g.ParseFromString(blob[start:end])
            except Exception:
                continue
            if g.type == name and len(g.node) > 0:
                best = g
        if best is not None:
            return best
    return None


def main():
    load_option_extensions()
    root = os.path.dirname(mediapipe.__file__)
    print(f"# mediapipe {mediapipe.__version__}\n")
    top = calculator_pb2.CalculatorGraphConfig()
    with open(os.path.join(root, "modules/hand_landmark/hand_landmark_tracking_cpu.binarypb"), "rb") as f:
        top.ParseFromString(f.read())
    print("# ==== hand_landmark_tracking_cpu.binarypb\n" + text_format.MessageToString(top))
    [so] = glob.glob(os.path.join(root, "python", "_framework_bindings*.so"))
    blob = open(so, "rb").read()
    for name in SUBGRAPHS:
        g = find_subgraph(blob, name)
        if g is None:
            print(f"# ==== {name}: NOT FOUND", file=sys.stderr)
            continue
        print(f"# ==== {name} (embedded in {os.path.basename(so)})\n" + text_format.MessageToString(g))


if __name__ == "__main__":
    main()
