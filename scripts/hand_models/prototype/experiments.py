"""Design comparison. Trains on Kaggle folds 0-2 (grouped by file-number blocks), tests on
Kaggle fold 3 and on the whole dev set. Usage: python experiments.py NAME [NAME ...]"""
import json
import sys
import time

import numpy as np

import pipeline as P
from augment import AUG

kag = P.load("kaggle")
dev = P.load("dev")
keep = kag["found"] & np.isin(kag["labels"], P.LETTERS)
fold = P.kaggle_fold(kag["num"])
tr = keep & (fold != 3)
te = keep & (fold == 3)
Qtr, ytr = kag["base"][tr], kag["labels"][tr]
Xte, yte = P.feats(kag["base"][te]), kag["labels"][te]
prior = P.make_prior(Qtr, ytr)

NOAUG = dict(AUG, finger_len=0, bone_len=0, width=0, z_scale=0, yaw_deg=0, pitch_deg=0,
             roll_deg=0, noise=0, noise_z=0)

DESIGNS = {
    "lr_noaug": dict(kind="lr", n_aug=0),
    "mlp_noaug": dict(n_aug=0),
    "hgb_aug": dict(kind="hgb"),
    "lr_aug": dict(kind="lr"),
    "mlp_aug": dict(),
    "mlp_aug_prior0.25": dict(prior_weight=0.25),
    "mlp_aug_prior0.5": dict(prior_weight=0.5),
    "mlp_aug_prior0.5_s1": dict(prior_weight=0.5, seed=1),
    "mlp_aug_s1": dict(seed=1),
    "mlp_aug_prior1": dict(prior_weight=1.0),
    "mlp_aug_prior2": dict(prior_weight=2.0),
    "mlp_prior_only": dict(prior_weight=1.0, real=False),
    "mlp_aug_mirror0.1": dict(mirror_p=0.1),
    "mlp_aug_small": dict(hidden=(64,)),
    "mlp_aug_prior0.5_small": dict(prior_weight=0.5, hidden=(64,)),
    "mlp_aug_strong": dict(aug=dict(AUG, yaw_deg=40, pitch_deg=40, z_scale=0.5, noise=0.05)),
    "mlp_aug_prior1_strong_replTDMN": dict(prior_weight=1.0, replace=("T", "D", "M", "N"),
                                  aug=dict(AUG, yaw_deg=40, pitch_deg=40, z_scale=0.5, noise=0.05)),
    "mlp_aug_prior1_strong_replT": dict(prior_weight=1.0, replace=("T",),
                                  aug=dict(AUG, yaw_deg=40, pitch_deg=40, z_scale=0.5, noise=0.05)),
    "mlp_aug_prior1_strong": dict(prior_weight=1.0,
                                  aug=dict(AUG, yaw_deg=40, pitch_deg=40, z_scale=0.5, noise=0.05)),
}


def run(name, seed=0):
    cfg = dict(DESIGNS[name])
    seed = cfg.pop("seed", seed)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    pw = cfg.pop("prior_weight", None)
    real = cfg.pop("real", True)
    Q, y = (Qtr, ytr) if real else (Qtr[:0], ytr[:0])
    X, Y, W = P.build_training(Q, y, rng, n_aug=cfg.pop("n_aug", 4),
                               prior=prior if pw else None, prior_weight=pw or 0,
                               aug_cfg=cfg.pop("aug", AUG), mirror_p=cfg.pop("mirror_p", 0.0),
                               replace=cfg.pop("replace", ()))
    if not real:
        W = np.ones(len(Y))
    model = P.train(X, Y, W, seed=seed, **cfg)
    k_acc = float(np.mean(P.predict(model, Xte) == yte))
    r = P.evaluate_dev(model, dev)
    pred = r.pop("pred")
    r.update(name=name, kaggle_heldout=k_acc, secs=time.time() - t0, n_train=len(Y))
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}),
          flush=True)
    np.save(f"/work/handwork/proto/results/pred_{name}.npy", pred.astype(str))
    with open("/work/handwork/proto/results/results.jsonl", "a") as f:
        f.write(json.dumps(r) + "\n")
    return r


if __name__ == "__main__":
    for name in sys.argv[1:]:
        run(name)
