#!/usr/bin/env python3
"""Hands of the MIT-licensed repository borisgraudt/asl-ai (© 2024 Boris Graudt): MediaPipe's
21 landmarks of one webcam signer's A–Z, recorded by the `scripts/collect.py` of its first
commit (38d9fc8, which flips each frame like a mirror before MediaPipe), as rows of the
other signers' table (`asl_core::handshape::signers::SignerHand`, JSON list), for
`examples/hand_research.rs export` once the source has its line in that file's TABLE_SOURCES.
Measured as a fifth source of the table and not adopted (docs/hands/classifier.md 11.10: the
dev mean over sources did not move over three seeds); kept to repeat or extend that trial.

    git clone https://github.com/borisgraudt/asl-ai && git -C asl-ai checkout fa1dcdb
    python3 scripts/borisgraudt_landmarks.py asl-ai/.git borisgraudt-hands.json [per letter]

Each `data/raw_gestures/<LETTER>/frame_<n>.npy` is one video frame's landmarks as MediaPipe
gives them: x / frame width, y / frame height, z in the scale of x (63 float64). They become
photo pixels of a 1280×720 frame (the recorder sets no capture size; the repository's
technical report names a 720p webcam, its app asks for 1280×720, and the palm's rigid distances
vary least across frames at 16:9 among the common aspects: 4:3 is clearly worse). Consecutive frames are nearly the same hand, so `per letter` frames (24 by
default) spread evenly over each letter's recording are kept. There is no MediaPipe label: the
signer's hand is judged by geometry (asl's chirality) over all frames (left: the signer's right
hand in the recorder's mirror), and every frame gets that hand's label, which decides for the
frames whose own geometry is unclear (a flat B or W).
"""
import json
import math
import struct
import sys

from git_blobs import git

COMMIT = "fa1dcdb446182c17afd1bd915a70754a99fd02b3"
FRAMES = 10508
WIDTH, HEIGHT = 1280, 720
LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
CHIRALITY_CLEAR = 0.15  # asl_core::handshape::features::CHIRALITY_CLEAR


def npy_landmarks(blob):
    """The 21 (x, y, z) of one frame's .npy (format 1.0, little-endian float64, shape (63,))."""
    if blob[:6] != b"\x93NUMPY" or blob[6] != 1:
        raise ValueError("not a version-1 .npy file")
    header_len = struct.unpack("<H", blob[8:10])[0]
    header = blob[10 : 10 + header_len].decode("latin1")
    if "'<f8'" not in header or "(63,)" not in header or "'fortran_order': False" not in header:
        raise ValueError(f"unexpected .npy header {header.strip()}")
    values = struct.unpack("<63d", blob[10 + header_len :])
    return [(values[3 * i] * WIDTH, values[3 * i + 1] * HEIGHT, values[3 * i + 2] * WIDTH) for i in range(21)]


def sub(a, b):
    return [a[i] - b[i] for i in range(3)]


def norm(a):
    return math.sqrt(sum(x * x for x in a))


def chirality(p):
    """asl_core::handshape::features::chirality: > 0 for a right hand, < 0 for a left one."""
    w = p[0]
    u, v = sub(p[5], w), sub(p[17], w)
    n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
    length = norm(n) + 1e-9
    n = [x / length for x in n]
    palm = [0, 5, 9, 13, 17]
    centre = [sum(p[i][k] for i in palm) / len(palm) for k in range(3)]
    joints = [6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20, 4]
    mean = sum(sum(sub(p[i], centre)[k] * n[k] for k in range(3)) for i in joints) / len(joints)
    palm_size = sum(norm(sub(p[i], w)) for i in [5, 9, 13, 17]) / 4
    return mean / palm_size


def main(git_dir, out, per_letter):
    names = git(git_dir, "ls-tree", "-r", "-z", "--name-only", COMMIT, "data/raw_gestures").decode().split("\0")
    frames = {letter: [] for letter in LETTERS}
    for name in names:
        parts = name.split("/")
        if len(parts) == 4 and parts[2] in frames and parts[3].startswith("frame_") and parts[3].endswith(".npy"):
            frames[parts[2]].append((int(parts[3][len("frame_") : -len(".npy")]), name))
    if sum(map(len, frames.values())) != FRAMES:
        sys.exit(f"{sum(map(len, frames.values()))} frames at {COMMIT}, expected {FRAMES}")
    # Every frame's geometry decides which hand the signer uses.
    landmarks = {}
    for letter in LETTERS:
        for _, name in frames[letter]:
            landmarks[name] = npy_landmarks(git(git_dir, "cat-file", "blob", f"{COMMIT}:{name}"))
    scores = [chirality(p) for p in landmarks.values()]
    right = sum(c >= CHIRALITY_CLEAR for c in scores)
    left = sum(c <= -CHIRALITY_CLEAR for c in scores)
    # MediaPipe's "Right" score as asl's detector reports it: below 0.5 is the signer's right hand.
    handedness_right = 0.0 if right > left else 1.0
    print(f"{FRAMES} frames: {right} right hands, {left} left hands, {FRAMES - right - left} unclear by geometry")
    rows = []
    for letter in LETTERS:
        ordered = sorted(frames[letter])
        if per_letter > len(ordered):
            sys.exit(f"{letter} has {len(ordered)} frames, fewer than {per_letter} a letter")
        for k in range(per_letter):
            _, name = ordered[(2 * k + 1) * len(ordered) // (2 * per_letter)]
            rows.append(
                {
                    "source": "borisgraudt",
                    "file": f"{letter}/borisgraudt__{name.split('/')[-1]}",
                    "class": letter,
                    "handedness_right": handedness_right,
                    "landmarks": [[round(c, 2) for c in point] for point in landmarks[name]],
                }
            )
    with open(out, "w") as f:
        json.dump(rows, f)
    print(f"{len(rows)} hands ({per_letter} a letter) written to {out}")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 24)
