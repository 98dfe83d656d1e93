"""Landmark-space augmentation (training only).

Works on a right hand (already mirrored), wrist at the origin, scaled by palm size, NOT yet
rotated in the image plane (so that the in-plane angle keeps its meaning; the augmented hand
goes through features.normalise() again). Axes: x right, y down, z away from the camera.
"""
import numpy as np

from features import FINGERS, WRIST

AUG = dict(
    finger_len=0.12,    # per-digit length factor U(1-a, 1+a) applied to all its bones
    bone_len=0.05,      # extra per-bone factor U(1-a, 1+a)
    width=0.12,         # palm/hand width factor along the palm's across axis U(1-a, 1+a)
    z_scale=0.30,       # depth factor U(1-a, 1+a) (MediaPipe z is the least reliable axis)
    yaw_deg=25.0,       # rotation about the hand's up axis, U(-a, a)
    pitch_deg=25.0,     # rotation about the hand's across axis, U(-a, a)
    roll_deg=20.0,      # in-plane rotation about the camera axis, U(-a, a)
    noise=0.03,         # Gaussian noise on x, y (palm-size units)
    noise_z=0.05,       # Gaussian noise on z
)

# The chosen setting ("strong"): wider viewpoint and depth range, more noise.
AUG_STRONG = dict(AUG, yaw_deg=40.0, pitch_deg=40.0, z_scale=0.5, noise=0.05)


def palm_frame(q):
    """Unit axes (a, u, n): u = wrist -> middle MCP, a = across toward the thumb side
    (index MCP - pinky MCP, made orthogonal to u), n = a x u = out of the palm (right hand)."""
    u = q[9] - q[WRIST]
    u = u / (np.linalg.norm(u) + 1e-9)
    a = q[5] - q[17]
    a = a - (a @ u) * u
    a = a / (np.linalg.norm(a) + 1e-9)
    n = np.cross(a, u)
    return a, u, n


def rot(axis, ang):
    """Rodrigues rotation matrix about a unit axis."""
    axis = axis / (np.linalg.norm(axis) + 1e-9)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(ang) * K + (1 - np.cos(ang)) * K @ K


def augment(q, rng, cfg=AUG):
    q = q.copy()
    # 1. bone lengths: rebuild each digit chain with scaled bones
    for ch in FINGERS:
        f = rng.uniform(1 - cfg["finger_len"], 1 + cfg["finger_len"])
        old = q[ch].copy()
        for k in range(1, 4):
            b = old[k] - old[k - 1]
            s = f * rng.uniform(1 - cfg["bone_len"], 1 + cfg["bone_len"])
            q[ch[k]] = q[ch[k - 1]] + s * b
    # 2. width: scale along the palm's across axis
    a, u, n = palm_frame(q)
    w = rng.uniform(1 - cfg["width"], 1 + cfg["width"])
    q = q + np.outer((q @ a) * (w - 1), a)
    # 3. depth scale
    q[:, 2] *= rng.uniform(1 - cfg["z_scale"], 1 + cfg["z_scale"])
    # 4. 3-D rotation about the wrist: yaw about u, pitch about a, then roll about the camera axis
    a, u, n = palm_frame(q)
    R = (rot(np.array([0.0, 0.0, 1.0]), np.radians(rng.uniform(-1, 1) * cfg["roll_deg"]))
         @ rot(a, np.radians(rng.uniform(-1, 1) * cfg["pitch_deg"]))
         @ rot(u, np.radians(rng.uniform(-1, 1) * cfg["yaw_deg"])))
    q = q @ R.T
    # 5. noise
    q[:, :2] += rng.normal(0, cfg["noise"], (21, 2))
    q[:, 2] += rng.normal(0, cfg["noise_z"], 21)
    return q
