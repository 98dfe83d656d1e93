"""Write asl-core's prior test fixture: prior.py's build_hand / to_image on the embedded table.

    python gen_prior_reference.py ../../../asl-core/src/handshape/prior_table.json \
        ../../../asl-core/tests/data/handshape/prior_reference.json

`canonical`: every letter without jitter. `jittered`: six letters with the joint-angle offsets
already in the fixture (kept, so the Rust test replays the same draws), flexion clipped to
[-10, FLEX_MAX] as Prior.sample does.
"""
import json
import sys

import numpy as np

from prior import FLEX_MAX, build_hand, to_image

table_path, out_path = sys.argv[1], sys.argv[2]
table = json.load(open(table_path))
geo = {k: np.array(v) for k, v in table["geometry"].items()}
old = json.load(open(out_path))


def hand(L, d_fingers=0.0, d_spreads=0.0, d_thumb_deg=0.0):
    t = table["letters"][L]
    f = np.clip(np.array(t["fingers"]) + d_fingers, -10, FLEX_MAX)
    sp = np.array(t["spreads"]) + d_spreads
    th = np.radians(np.array(t["thumb_deg"])) + np.radians(d_thumb_deg)
    R = None if t["R"] is None else np.array(t["R"])
    return to_image(build_hand(geo, f, sp, th), R).tolist()


out = dict(generator=f"gen_prior_reference.py (prior.py build_hand/to_image), numpy {np.__version__}",
           canonical={L: hand(L) for L in sorted(table["letters"])},
           jittered=[dict(j, points=hand(j["letter"], np.array(j["d_fingers"]), np.array(j["d_spreads"]),
                                         np.array(j["d_thumb_deg"])))
                     for j in old["jittered"]])
json.dump(out, open(out_path, "w"))
