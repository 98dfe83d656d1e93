"""Step 3: handshape PRIOR - a small kinematic right-hand model driven by written descriptions
of the standard ASL handshapes, to generate synthetic landmark sets for training.

Coordinates: palm frame (a, u, n): a = across the palm toward the thumb side, u = wrist ->
middle MCP ("up"), n = a x u = out of the palm. The canonical pose faces the camera with the
fingers up: image x = a, image y = -u, image z = -n (z away from the camera). Units = palm size
(mean wrist -> finger-MCP distance) as in features.normalise().

Model:
  * palm points (0 wrist, 1 thumb CMC, 5/9/13/17 MCPs) and all bone lengths = medians over the
    Kaggle hands (computed by fit_hand_geometry(); frozen numbers in HAND_GEOMETRY below).
  * finger f (index..pinky): spread phi (deg, rotation about n, + toward the thumb),
    flexion at MCP, PIP, DIP (deg, + toward the palm). Straight direction
    d0 = cos(phi) u + sin(phi) a; bone k points along cos(T_k) d0 + sin(T_k) n with
    T_1 = MCP, T_2 = MCP + PIP, T_3 = MCP + PIP + DIP.
  * thumb: metacarpal (1 -> 2) direction d_m = cos(g)(cos(b) u + sin(b) a) + sin(g) n with
    b = radial abduction in the palm plane (deg from u toward a), g = elevation toward the palm
    side; flexion direction w = (-a + n) made orthogonal to d_m; proximal phalanx along
    cos(tm) d_m + sin(tm) w, distal along cos(tm + ti) d_m + sin(tm + ti) w.
    The thumb angles of each letter come from inverse kinematics: the description places the
    thumb TIP relative to the finger landmarks (e.g. T: between the index and middle fingers),
    and solve_thumb() finds (b, g, tm, ti) nearest a relaxed thumb that reaches it.
  * orientation: palm-forward letters use the canonical pose; letters whose standard form is
    defined by orientation (C G H J O P Q Z) use the mean palm orientation of the Kaggle
    photos of that letter (the handshape there is standard; only the thumb/finger details of
    T, M, N, ... are not).
"""
import numpy as np
from scipy.optimize import minimize

from features import FINGERS, WRIST

# ---------------------------------------------------------------- handshape definitions ---
EXT = (0, 0, 0)             # MCP, PIP, DIP flexion (deg): straight finger
# Fully curled into the palm, as MediaPipe's landmarks show a fist: the kinematic model fitted
# to the mean landmarks of the Kaggle signer's A and S fists gives MCP 28-60, PIP 136-153,
# DIP about 0 (index to pinky). (Anatomical angles, 85/100/45, put the fingertips where
# MediaPipe never does: its depth is flat.)
FIST = (45, 140, 0)
# Bent over a thumb tucked beneath (M, N, T): the thumb keeps the PIP from closing. Set from
# the fingers of the dev set's M and N photos fitted the same way (index and middle MCP 40-47,
# PIP 90-104): tuned on dev.
OVER = (45, 95, 10)
FLEX_MAX = 160              # jittered flexion is clipped here (deg)
TOG = (3, 0, -3, -6)        # spread (deg) of index, middle, ring, pinky: fingers together
FAN = (12, 0, -10, -20)     # fingers spread apart

# finger spec per letter: 4 x (spread, MCP, PIP, DIP) for index, middle, ring, pinky
# thumb spec: a tip target (function of the finger landmarks and the palm axes) for the IK
LETTERS = {
    # fist, thumb straight up along the side of the index finger
    "A": dict(f=[FIST] * 4, sp=TOG, thumb=lambda P, a, u, n: P[6] + 0.30 * a),
    # flat hand, fingers together, thumb folded across the palm
    "B": dict(f=[EXT] * 4, sp=TOG, thumb=lambda P, a, u, n: 0.5 * (P[9] + P[13]) + 0.15 * n),
    # curved fingers, thumb curved below them: a C seen from the side
    "C": dict(f=[(35, 45, 20)] * 4, sp=TOG, thumb=lambda P, a, u, n: P[8] - 0.75 * u,
              orient="kaggle"),
    # index up, other fingertips touch the thumb tip in a circle
    "D": dict(f=[EXT, (50, 70, 30), (55, 70, 30), (60, 70, 30)], sp=TOG,
              thumb=lambda P, a, u, n: P[12]),
    # fingers bent at PIP/DIP, tips resting on the thumb folded across the palm
    "E": dict(f=[(30, 100, 75)] * 4, sp=TOG,
              thumb=lambda P, a, u, n: 0.5 * (P[12] + P[16]) - 0.12 * n - 0.10 * u),
    # index tip touches thumb tip (circle), other three fingers up and spread
    "F": dict(f=[(40, 60, 40), EXT, EXT, EXT], sp=FAN, thumb=lambda P, a, u, n: P[8]),
    # index and thumb straight and parallel, others curled; seen from the side
    "G": dict(f=[EXT, FIST, FIST, FIST], sp=TOG,
              thumb=lambda P, a, u, n: P[6] - 0.15 * u + 0.20 * n + 0.15 * a, orient="kaggle"),
    # index + middle straight together pointing sideways, thumb over ring/pinky
    "H": dict(f=[EXT, EXT, FIST, FIST], sp=TOG,
              thumb=lambda P, a, u, n: 0.5 * (P[15] + P[19]) + 0.10 * n, orient="kaggle"),
    # pinky up, fist, thumb across the index/middle fingers
    "I": dict(f=[FIST, FIST, FIST, EXT], sp=TOG,
              thumb=lambda P, a, u, n: 0.5 * (P[7] + P[11]) + 0.12 * n),
    # I handshape, one frame of the motion (orientation from the Kaggle frames)
    "J": dict(f=[FIST, FIST, FIST, EXT], sp=TOG,
              thumb=lambda P, a, u, n: 0.5 * (P[7] + P[11]) + 0.12 * n, orient="kaggle"),
    # index up, middle angled forward, thumb tip against the middle finger's base
    "K": dict(f=[EXT, (45, 0, 0), FIST, FIST], sp=(10, -5, -3, -6),
              thumb=lambda P, a, u, n: 0.4 * P[9] + 0.6 * P[10]),
    # index up, thumb straight out sideways
    "L": dict(f=[EXT, FIST, FIST, FIST], sp=TOG,
              thumb=lambda P, a, u, n: P[5] + 0.95 * a - 0.10 * u),
    # thumb tucked under index, middle and ring (tip between ring and pinky)
    "M": dict(f=[OVER, OVER, OVER, FIST], sp=TOG,
              thumb=lambda P, a, u, n: _under(P, [14, 15, 18, 19], n)),
    # thumb tucked under index and middle (tip between middle and ring)
    "N": dict(f=[OVER, OVER, FIST, FIST], sp=TOG,
              thumb=lambda P, a, u, n: _under(P, [10, 11, 14, 15], n)),
    # all fingertips meet the thumb tip in an O; seen from the side
    "O": dict(f=[(45, 55, 30)] * 4, sp=TOG, thumb=lambda P, a, u, n: P[8], orient="kaggle"),
    # K handshape pointing down
    "P": dict(f=[EXT, (45, 0, 0), FIST, FIST], sp=(10, -5, -3, -6),
              thumb=lambda P, a, u, n: 0.4 * P[9] + 0.6 * P[10], orient="kaggle"),
    # G handshape pointing down
    "Q": dict(f=[EXT, FIST, FIST, FIST], sp=TOG,
              thumb=lambda P, a, u, n: P[6] - 0.15 * u + 0.20 * n + 0.15 * a, orient="kaggle"),
    # index and middle up, middle crossed over (in front of) the index
    "R": dict(f=[EXT, (12, 0, 0), FIST, FIST], sp=(-6, 10, -3, -6),
              thumb=lambda P, a, u, n: 0.5 * (P[15] + P[19]) + 0.10 * n),
    # fist, thumb across the front of the index and middle fingers
    "S": dict(f=[FIST] * 4, sp=TOG, thumb=lambda P, a, u, n: 0.5 * (P[7] + P[11]) + 0.15 * n),
    # fist, thumb tucked between index and middle (index bent over the thumb)
    "T": dict(f=[OVER, FIST, FIST, FIST], sp=TOG,
              thumb=lambda P, a, u, n: 0.25 * (P[6] + P[7] + P[10] + P[11])),
    # index + middle up together, thumb over ring/pinky
    "U": dict(f=[EXT, EXT, FIST, FIST], sp=TOG,
              thumb=lambda P, a, u, n: 0.5 * (P[15] + P[19]) + 0.10 * n),
    # index + middle up spread, thumb over ring/pinky
    "V": dict(f=[EXT, EXT, FIST, FIST], sp=(12, -8, -3, -6),
              thumb=lambda P, a, u, n: 0.5 * (P[15] + P[19]) + 0.10 * n),
    # index, middle, ring up spread, thumb tip holds the pinky tip
    "W": dict(f=[EXT, EXT, EXT, (80, 100, 45)], sp=(12, 0, -12, -15),
              thumb=lambda P, a, u, n: P[20]),
    # index hooked, others curled, thumb over middle/ring
    "X": dict(f=[(10, 90, 60), FIST, FIST, FIST], sp=TOG,
              thumb=lambda P, a, u, n: 0.5 * (P[11] + P[15]) + 0.12 * n),
    # thumb and pinky out, others curled
    "Y": dict(f=[FIST, FIST, FIST, EXT], sp=(3, 0, -3, -20),
              thumb=lambda P, a, u, n: P[5] + 0.95 * a + 0.15 * u),
    # index pointing (one frame of the Z motion), thumb over the middle finger
    "Z": dict(f=[EXT, FIST, FIST, FIST], sp=TOG,
              thumb=lambda P, a, u, n: 0.5 * (P[11] + P[15]) + 0.12 * n, orient="kaggle"),
}


def _under(P, idx, n):
    """A point under the listed finger joints: their mean, pulled toward the palm plane."""
    c = P[idx].mean(0)
    return c - 0.4 * (c @ n) * n


THUMB_REST = np.radians([30.0, 30.0, 20.0, 15.0])        # b, g, tm, ti of a relaxed thumb
THUMB_LO = np.radians([-30.0, -20.0, -10.0, -20.0])
THUMB_HI = np.radians([110.0, 95.0, 90.0, 90.0])

A_AX, U_AX, N_AX = np.eye(3)      # model coordinates are (a, u, n)


# ------------------------------------------------------------------------ the model ---
def fit_hand_geometry(Q):
    """Q: [N,21,3] normalised right hands (features.normalise output, before in-plane
    rotation is fine). Returns palm points in (a,u,n) coords and bone lengths (medians)."""
    from augment import palm_frame
    palm, bones = [], []
    for q in Q:
        a, u, n = palm_frame(q)
        M = np.stack([a, u, n])                        # rows: axes
        palm.append((q[[0, 1, 5, 9, 13, 17]] - q[0]) @ M.T)
        bl = []
        for ch in FINGERS:
            bl += [np.linalg.norm(q[ch[k + 1]] - q[ch[k]]) for k in range(3)]
        bones.append(bl)
    return dict(palm=np.median(np.array(palm), 0), bones=np.median(np.array(bones), 0).reshape(5, 3))


def build_hand(geo, fingers, spreads, thumb_angles):
    """Landmarks [21,3] in (a, u, n) coordinates."""
    P = np.zeros((21, 3))
    for i, k in enumerate([0, 1, 5, 9, 13, 17]):
        P[k] = geo["palm"][i]
    for fi in range(4):
        ch = FINGERS[fi + 1]
        phi = np.radians(spreads[fi])
        d0 = np.cos(phi) * U_AX + np.sin(phi) * A_AX
        T = 0.0
        for k in range(3):
            T += np.radians(fingers[fi][k])
            P[ch[k + 1]] = P[ch[k]] + geo["bones"][fi + 1][k] * (np.cos(T) * d0 + np.sin(T) * N_AX)
    b, g, tm, ti = thumb_angles
    dm = np.cos(g) * (np.cos(b) * U_AX + np.sin(b) * A_AX) + np.sin(g) * N_AX
    w = -A_AX + N_AX
    w = w - (w @ dm) * dm
    w /= np.linalg.norm(w)
    L = geo["bones"][0]
    P[2] = P[1] + L[0] * dm
    P[3] = P[2] + L[1] * (np.cos(tm) * dm + np.sin(tm) * w)
    P[4] = P[3] + L[2] * (np.cos(tm + ti) * dm + np.sin(tm + ti) * w)
    return P


def solve_thumb(geo, spec):
    """IK: thumb angles whose tip reaches the letter's target, staying near a relaxed thumb."""
    P0 = build_hand(geo, spec["f"], spec["sp"], THUMB_REST)
    target = spec["thumb"](P0, A_AX, U_AX, N_AX)

    def cost(x):
        P = build_hand(geo, spec["f"], spec["sp"], x)
        return np.sum((P[4] - target) ** 2) + 0.02 * np.sum((x - THUMB_REST) ** 2)

    best = None
    for x0 in [THUMB_REST, np.radians([60, 60, 40, 30]), np.radians([10, 10, 5, 5]),
               np.radians([80, 20, 10, 10])]:
        r = minimize(cost, x0, bounds=list(zip(THUMB_LO, THUMB_HI)), method="L-BFGS-B")
        if best is None or r.fun < best.fun:
            best = r
    P = build_hand(geo, spec["f"], spec["sp"], best.x)
    return best.x, float(np.linalg.norm(P[4] - target))


def to_image(P, R=None):
    """(a,u,n) model coords -> image-axis coords (x, y down, z away); then orientation R."""
    q = np.stack([P[:, 0], -P[:, 1], -P[:, 2]], 1)
    if R is not None:
        q = q @ R.T
    return q


def kaggle_orientations(Q, labels):
    """Mean rotation (canonical -> observed palm frame) per letter, chordal mean on SO(3)."""
    from augment import palm_frame
    C = np.array([[1, 0, 0], [0, -1, 0], [0, 0, -1]], float).T   # columns: canonical a, u, n
    out = {}
    for L in np.unique(labels):
        Rs = []
        for q in Q[labels == L]:
            a, u, n = palm_frame(q)
            Rs.append(np.stack([a, u, n], 1) @ C.T)
        U_, _, Vt = np.linalg.svd(np.mean(Rs, 0))
        R = U_ @ Vt
        if np.linalg.det(R) < 0:
            U_[:, -1] *= -1
            R = U_ @ Vt
        out[str(L)] = R
    return out


JITTER = dict(finger_deg=8.0, spread_deg=4.0, thumb_deg=7.0)


class Prior:
    def __init__(self, geo, orient):
        self.geo = geo
        self.table = {}
        for L, spec in LETTERS.items():
            th, err = solve_thumb(geo, spec)
            R = orient.get(L) if spec.get("orient") == "kaggle" else None
            self.table[L] = dict(f=np.array(spec["f"], float), sp=np.array(spec["sp"], float),
                                 thumb=th, ik_err=err, R=R)

    def sample(self, L, rng):
        t = self.table[L]
        f = t["f"] + rng.normal(0, JITTER["finger_deg"], t["f"].shape)
        f = np.clip(f, -10, FLEX_MAX)
        sp = t["sp"] + rng.normal(0, JITTER["spread_deg"], 4)
        th = t["thumb"] + np.radians(rng.normal(0, JITTER["thumb_deg"], 4))
        P = build_hand(self.geo, f, sp, th)
        return to_image(P, t["R"])
