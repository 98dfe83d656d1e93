"""Inference with the exported model(s) in plain numpy - the spec for the Rust (burn) port.

  landmarks [21,3] px + MediaPipe handedness  ->  features.photo_features()  ->  (x - mean)/scale
  -> Linear+ReLU (256) -> Linear+ReLU (128) -> Linear (26) -> softmax; several seeds: average
  the softmax outputs.

Usage: python infer.py model/landmark_mlp_pw1.0_s0.npz [more.npz ...]   (evaluates on dev)
"""
import sys

import numpy as np

import features as F


def load_model(path):
    z = np.load(path)
    n = len([k for k in z.files if k.startswith("W")])
    return dict(mean=z["mean"], scale=z["scale"], classes=z["classes"].astype(str),
                layers=[(z[f"W{i}"].astype(np.float64), z[f"b{i}"].astype(np.float64))
                        for i in range(n)])


def forward(m, X):
    h = (X - m["mean"]) / m["scale"]
    for i, (W, b) in enumerate(m["layers"]):
        h = h @ W + b
        if i < len(m["layers"]) - 1:
            h = np.maximum(h, 0.0)
    h = h - h.max(1, keepdims=True)
    p = np.exp(h)
    return p / p.sum(1, keepdims=True)


def predict_proba(models, X):
    return np.mean([forward(m, X) for m in models], 0)


if __name__ == "__main__":
    d = np.load("/work/handwork/proto/landmarks/dev.npz")
    models = [load_model(p) for p in sys.argv[1:]]
    found = d["found"]
    X = np.array([F.photo_features(d["lm_px"][i].astype(np.float64), d["hand_label"][i],
                                   d["hand_score"][i]) for i in np.flatnonzero(found)])
    pred = np.array(["-"] * len(found), dtype=object)
    pred[found] = models[0]["classes"][predict_proba(models, X).argmax(1)]
    y, src = d["labels"].astype(str), d["sources"].astype(str)
    ok = pred == y
    per = {s: ok[src == s].mean() for s in sorted(set(src))}
    print(f"pooled {ok.mean():.4f} mean-over-sources {np.mean(list(per.values())):.4f}")
    print("  ".join(f"{s} {v:.3f}" for s, v in per.items()))
    np.save("/work/handwork/proto/results/pred_infer.npy", pred.astype(str))
