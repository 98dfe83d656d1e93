"""Re-solve the handshape prior's thumb IK for the letter descriptions of prior.py on the
committed geometry, and write the table asl-core embeds.

    python resolve_prior.py ../../../asl-core/src/handshape/prior_table.json

Keeps the table's palm geometry and per-letter orientations (measured on the Kaggle hands,
full precision) and replaces each letter's finger angles, spreads and thumb angles. Needs
numpy and scipy only (no landmarks).
"""
import json
import sys

import numpy as np

from prior import LETTERS, Prior

path = sys.argv[1]
table = json.load(open(path))
geo = {k: np.array(v) for k, v in table["geometry"].items()}
orient = {L: np.array(t["R"]) for L, t in table["letters"].items() if t["R"] is not None}
prior = Prior(geo, orient)
for L, t in prior.table.items():
    old = table["letters"][L]
    table["letters"][L] = dict(fingers=t["f"].tolist(), spreads=t["sp"].tolist(),
                               thumb_deg=np.degrees(t["thumb"]).tolist(), ik_err=round(t["ik_err"], 3),
                               R=old["R"])
    print(f"{L}: fingers {t['f'].astype(int).tolist()} thumb {np.degrees(t['thumb']).round(0).tolist()} IK miss {t['ik_err']:.2f}")
json.dump(table, open(path, "w"))
