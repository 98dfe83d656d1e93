"""Print the handshape prior as a markdown table (degrees), from the Kaggle geometry."""
import numpy as np
import pipeline as P
from prior import LETTERS, JITTER
kag = P.load("kaggle")
keep = kag["found"] & np.isin(kag["labels"], P.LETTERS)
pr = P.make_prior(kag["base"][keep], kag["labels"][keep])
g = pr.geo
print("palm points (a, u, n) for landmarks 0,1,5,9,13,17:", np.round(g["palm"], 3).tolist())
print("bone lengths [thumb, index, middle, ring, pinky] x 3:", np.round(g["bones"], 3).tolist())
print()
print("| letter | index (spread, MCP, PIP, DIP) | middle | ring | pinky | thumb b, g, tm, ti (IK) | IK miss | orientation |")
print("|---|---|---|---|---|---|---|---|")
for L, t in pr.table.items():
    fs = [f"{int(t['sp'][i])}, {', '.join(str(int(x)) for x in t['f'][i])}" for i in range(4)]
    th = ", ".join(f"{x:.0f}" for x in np.degrees(t["thumb"]))
    if t["R"] is None:
        o = "canonical (palm to camera, fingers up)"
    else:
        R = t["R"]
        o = "Kaggle mean R = " + str(np.round(R, 2).tolist())
    print(f"| {L} | " + " | ".join(fs) + f" | {th} | {t['ik_err']:.2f} | {o} |")
