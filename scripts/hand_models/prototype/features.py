"""Step 2: landmark normalisation and features (the executable spec for the Rust port).

Landmark indices (MediaPipe):
  0 wrist; thumb 1 CMC, 2 MCP, 3 IP, 4 TIP; index 5 MCP, 6 PIP, 7 DIP, 8 TIP;
  middle 9-12; ring 13-16; pinky 17-20.
Input: [21, 3] landmarks in pixels (x right, y down, z = MediaPipe z * image width, i.e. the
same pixel scale, smaller = nearer the camera).
"""
import numpy as np

WRIST = 0
FINGERS = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [17, 18, 19, 20]]
TIPS = [4, 8, 12, 16, 20]
MCPS = [5, 9, 13, 17]


def chirality(p):
    """Geometric handedness score: > 0 for a right hand, < 0 for a left hand.

    n = (index MCP - wrist) x (pinky MCP - wrist) is a normal of the palm plane; with x right,
    y down, z away from the camera (a right-handed frame), n points out of the PALM of a right
    hand and out of the BACK of a left hand. Fingers flex toward the palm, so the mean offset of
    the PIP/DIP/TIP joints of the four fingers and the thumb tip from the palm centre, dotted
    with n, is positive for a right hand and negative for a left hand. Returned normalised by palm size (so ~±0.1
    to ±1). Near zero for a flat hand (B with little thumb fold) - then trust MediaPipe.
    """
    w = p[WRIST]
    n = np.cross(p[5] - w, p[17] - w)
    n /= np.linalg.norm(n) + 1e-9
    centre = p[[0, 5, 9, 13, 17]].mean(0)
    pts = p[[6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20, 4]]
    size = palm_size(p)
    return float(((pts - centre) @ n).mean() / size)


def palm_size(p):
    """Mean 3-D distance from the wrist to the four finger MCPs."""
    return float(np.linalg.norm(p[MCPS] - p[WRIST], axis=1).mean())


def is_right_hand(p, mp_label, mp_score, photo_mirrored=False):
    """Decide handedness from geometry and MediaPipe's label.

    MediaPipe labels assume a mirrored (selfie) image, so on an ordinary photo its "Left"
    (label 0) means the signer's RIGHT hand. Geometry (chirality()) is used when it is clear
    (|score| >= 0.15); otherwise MediaPipe's label decides.
    """
    c = chirality(p)
    if abs(c) >= 0.15:
        return c > 0
    mp_right = (mp_label == 0) != photo_mirrored
    return mp_right


def normalise(p, right):
    """Mirror to a right hand, translate wrist to the origin, scale by palm size, rotate in the
    image plane so that wrist -> middle MCP points up (-y). Returns (q [21,3], sin, cos) where
    (sin, cos) is the ORIGINAL in-plane angle of wrist -> middle MCP measured from 'up'
    (0 = pointing up, +90 deg = pointing to the image right, after mirroring)."""
    q = p.astype(np.float64).copy()
    if not right:
        q[:, 0] = -q[:, 0]
    q -= q[WRIST]
    q /= palm_size(q) + 1e-9
    v = q[9]
    ang = np.arctan2(v[0], -v[1])          # angle from 'up' (-y), clockwise positive
    s, c = np.sin(ang), np.cos(ang)
    # rotate by -ang about z: new = R @ old, so that v maps onto (0, -|v|)
    R = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    q = q @ R.T
    return q, s, c


def _angle(u, v):
    cu = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9)
    return np.arccos(np.clip(cu, -1.0, 1.0))


def features(q, s, c):
    """Feature vector from a normalised hand (see normalise()). Layout (total 115):
      [0:63]    the 21 normalised (x, y, z) coordinates
      [63:65]   sin, cos of the original in-plane angle
      [65:68]   unit palm normal (index MCP - wrist) x (pinky MCP - wrist), normalised frame
      [68:83]   15 flexion angles (radians): for each of thumb, index, middle, ring, pinky the
                angle between consecutive bones at joints 1..3 of the chain; the first bone
                is wrist -> chain[0] (thumb: wrist->CMC, CMC->MCP, MCP->IP, IP->TIP)
      [83:87]   4 spread angles between the proximal bones (MCP->PIP, thumb CMC->MCP) of
                adjacent digits (thumb-index, index-middle, middle-ring, ring-pinky)
      [87:97]   10 pairwise fingertip distances (tips 4,8,12,16,20; i<j order)
      [97:113]  16 distances from the thumb tip to landmarks 5..20
      [113:115] 2 distances: index tip to middle PIP (10) and to middle DIP (11)
    """
    f = [q.reshape(-1), [s, c]]
    n = np.cross(q[5], q[17])
    f.append(n / (np.linalg.norm(n) + 1e-9))
    flex, prox = [], []
    for ch in FINGERS:
        pts = [WRIST] + ch
        bones = [q[pts[i + 1]] - q[pts[i]] for i in range(4)]
        for i in range(3):
            flex.append(_angle(bones[i], bones[i + 1]))
        prox.append(bones[1])
    f.append(flex)
    f.append([_angle(prox[i], prox[i + 1]) for i in range(4)])
    tips = q[TIPS]
    f.append([np.linalg.norm(tips[i] - tips[j]) for i in range(5) for j in range(i + 1, 5)])
    f.append(np.linalg.norm(q[5:21] - q[4], axis=1))
    f.append([np.linalg.norm(q[8] - q[10]), np.linalg.norm(q[8] - q[11])])
    return np.concatenate([np.asarray(x, np.float64).ravel() for x in f])


N_FEATURES = 115


def photo_features(p, mp_label, mp_score):
    right = is_right_hand(p, mp_label, mp_score)
    q, s, c = normalise(p, right)
    return features(q, s, c)
