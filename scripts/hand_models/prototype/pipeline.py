"""Landmark classifier pipeline: data loading, training-set construction (real Kaggle hands +
landmark-space augmentation + kinematic handshape prior), training, and evaluation.

Executable spec for the Rust port; see REPORT-classifier.md for the chosen settings.
"""
import re

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import features as F
from augment import augment, AUG
from prior import Prior, fit_hand_geometry, kaggle_orientations

LM_DIR = "/work/handwork/proto/landmarks"
LETTERS = [chr(ord("A") + i) for i in range(26)]


def load(which, handed="geo+mp"):
    """Returns dict with labels, sources, found, base (mirrored/centred/scaled landmarks, NaN
    where no hand), file numbers (Kaggle) and the handedness decision."""
    d = np.load(f"{LM_DIR}/{which}.npz")
    n = len(d["labels"])
    base = np.full((n, 21, 3), np.nan)
    right = np.zeros(n, bool)
    for i in np.flatnonzero(d["found"]):
        p = d["lm_px"][i].astype(np.float64)
        if handed == "geo+mp":
            r = F.is_right_hand(p, d["hand_label"][i], d["hand_score"][i])
        elif handed == "mp":
            r = d["hand_label"][i] == 0
        else:  # geo only
            r = F.chirality(p) > 0
        right[i] = r
        q = p.copy()
        if not r:
            q[:, 0] = -q[:, 0]
        q -= q[F.WRIST]
        base[i] = q / F.palm_size(q)
    num = np.array([int(re.findall(r"(\d+)\.\w+$", f)[0]) if which == "kaggle" else -1
                    for f in d["files"]])
    return dict(labels=d["labels"].astype(str), sources=d["sources"].astype(str),
                found=d["found"], step=d["step"], base=base, right=right, num=num)


def feat(q):
    return F.features(*F.normalise(q, True))


def feats(Q):
    return np.array([feat(q) for q in Q])


def kaggle_fold(num):
    """Grouped split: contiguous blocks of 250 file numbers (burst frames stay together)."""
    return (num // 250) % 4


def build_training(Q, y, rng, n_aug=4, prior=None, n_prior=300, prior_weight=0.5,
                   prior_letters=None, aug_cfg=AUG, mirror_p=0.0, replace=()):
    """Real hands (+ n_aug augmented copies each) and, optionally, prior samples.
    prior_weight = total weight of one letter's prior samples relative to that letter's real
    (+augmented) samples. Letters in `replace` lose their real Kaggle samples (the signer's
    form is non-standard) and are represented by the prior alone, weighted like an average
    letter's real data."""
    keep = ~np.isin(y, list(replace))
    Q, y = Q[keep], y[keep]
    X, Y, W = [], [], []
    for q, lab in zip(Q, y):
        X.append(feat(q)); Y.append(lab); W.append(1.0)
        for _ in range(n_aug):
            qa = augment(q, rng, aug_cfg)
            if mirror_p and rng.random() < mirror_p:
                qa[:, 0] = -qa[:, 0]          # a handedness mistake, as seen at test time
            X.append(feat(qa)); Y.append(lab); W.append(1.0)
    Y = np.array(Y)
    W = np.array(W)
    if prior is not None:
        counts = {L: np.sum(Y == L) for L in LETTERS}
        avg = np.mean([c for c in counts.values() if c > 0])
        for L in replace:
            counts[L] = avg / max(prior_weight, 1e-9)
        PX, PY, PW = [], [], []
        for L in (prior_letters or LETTERS):
            for _ in range(n_prior):
                q = augment(prior.sample(L, rng), rng, aug_cfg)
                PX.append(feat(q)); PY.append(L)
                PW.append(prior_weight * counts[L] / n_prior)
        X += PX
        Y = np.concatenate([Y, PY])
        W = np.concatenate([W, PW])
    return np.array(X), Y, W


def make_prior(Qk, yk):
    geo = fit_hand_geometry(Qk)
    orient = kaggle_orientations(Qk, yk)
    return Prior(geo, orient)


def train(X, Y, W, kind="mlp", seed=0, hidden=(256, 128), alpha=1e-3, max_iter=80):
    sc = StandardScaler().fit(X, sample_weight=W)
    Xs = sc.transform(X)
    if kind == "mlp":
        clf = MLPClassifier(hidden_layer_sizes=hidden, alpha=alpha, batch_size=256,
                            learning_rate_init=1e-3, max_iter=max_iter, random_state=seed,
                            early_stopping=False, tol=1e-5, n_iter_no_change=max_iter)
    elif kind == "lr":
        clf = LogisticRegression(C=1.0, max_iter=2000)
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier
        clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)
    clf.fit(Xs, Y, sample_weight=W)
    return sc, clf


def predict(model, X):
    sc, clf = model
    return clf.predict(sc.transform(X))


def evaluate_dev(model, dev):
    """End to end: a photo with no hand found counts as wrong."""
    pred = np.array(["-"] * len(dev["labels"]), dtype=object)
    m = dev["found"]
    pred[m] = predict(model, feats(dev["base"][m]))
    ok = pred == dev["labels"]
    per = {s: float(ok[dev["sources"] == s].mean()) for s in sorted(set(dev["sources"]))}
    return dict(pooled=float(ok.mean()), mean_src=float(np.mean(list(per.values()))),
                per_source=per, found_acc=float(ok[m].mean()), pred=pred)
