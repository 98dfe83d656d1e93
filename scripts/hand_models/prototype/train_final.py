"""Train the chosen design on ALL Kaggle A-Z hands (+ augmentation + handshape prior) and
export it for the Rust port: model/landmark_mlp.npz holds the scaler (mean, scale), the MLP
weights (W0, b0, W1, b1, ...; ReLU hidden layers, softmax output) and the class order.

Usage: python train_final.py [prior_weight] [seed]
"""
import json
import sys

import numpy as np

import pipeline as P
from augment import AUG_STRONG

pw = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0

kag = P.load("kaggle")
dev = P.load("dev")
keep = kag["found"] & np.isin(kag["labels"], P.LETTERS)
Q, y = kag["base"][keep], kag["labels"][keep]
prior = P.make_prior(Q, y)
rng = np.random.default_rng(seed)
X, Y, W = P.build_training(Q, y, rng, n_aug=4, prior=prior if pw > 0 else None, prior_weight=pw,
                           aug_cfg=AUG_STRONG)
sc, clf = P.train(X, Y, W, seed=seed)
r = P.evaluate_dev((sc, clf), dev)
pred = r.pop("pred")
print(json.dumps(r))
np.save(f"/work/handwork/proto/results/pred_final_pw{pw}_s{seed}.npy", pred.astype(str))

import os
os.makedirs("/work/handwork/proto/model", exist_ok=True)
arrs = {"mean": sc.mean_, "scale": sc.scale_, "classes": np.array(clf.classes_)}
for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
    arrs[f"W{i}"] = w.astype(np.float32)     # [in, out]: y = x @ W + b
    arrs[f"b{i}"] = b.astype(np.float32)
np.savez(f"/work/handwork/proto/model/landmark_mlp_pw{pw}_s{seed}.npz", **arrs)
# prior table (degrees) for the report / Rust port
tab = {L: dict(fingers=t["f"].tolist(), spreads=t["sp"].tolist(),
               thumb_deg=np.degrees(t["thumb"]).round(1).tolist(), ik_err=round(t["ik_err"], 3),
               R=None if t["R"] is None else np.round(t["R"], 4).tolist())
       for L, t in prior.table.items()}
json.dump(dict(geometry={k: np.round(v, 4).tolist() for k, v in prior.geo.items()}, letters=tab),
          open("/work/handwork/proto/model/prior_table.json", "w"), indent=1)
