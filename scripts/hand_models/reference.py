#!/usr/bin/env python3
"""Reference output of MediaPipe 0.10.21's own Python Hands solution on the test photos.

    python scripts/hand_models/reference.py [--extract-from /path/to/asl-ood-dev.zip]
    python scripts/hand_models/reference.py --model-complexity 0     # lite models

Runs `mediapipe.solutions.hands.Hands(static_image_mode=True, max_num_hands=1,
model_complexity=1, min_detection_confidence=0.5)` on every photo in PHOTOS and writes
asl-core/tests/data/hands/reference.json (with --model-complexity 0, i.e. the lite palm and
landmark models: reference_lite.json).

The same graph (hand_landmark_tracking_cpu.binarypb, same side packets and calculator
params as `Hands`) is also run through `SolutionBase` with extra output streams, to record
what `Hands` does not return: the palm detection (after weighted NMS and letterbox
removal; box + 7 keypoints) and the rotated hand ROI derived from it. Its landmarks are
checked to be identical to those of `Hands`.

--extract-from ZIP copies the listed photos out of the asl-ood-dev archive first (they come
from the MIT-licensed sources only; see NOTICE.md beside them), checking each file's md5
against the archive's MANIFEST.csv.

Coordinates in the JSON: pixels of the original photo, origin at the top-left corner of
the image (x right, y down; MediaPipe's normalised coordinates times width/height).
Landmark z is MediaPipe's normalised z ("roughly the same scale as x") times the image
width, so it is in pixels too; negative is towards the camera. `z_norm` keeps the raw value.
"""
import argparse
import csv
import hashlib
import io
import json
import os
import re
import zipfile

import cv2

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA_DIR = os.path.join(REPO, "asl-core", "tests", "data", "hands")

# (file in the asl-ood-dev archive, file name in tests/data/hands)
PHOTOS = [
    ("A/seeeeeeel__50.jpg", "A_seeeeeeel_50.jpg"),        # 640x480 frame, hand small
    ("B/longhongvo23__20.jpg", "B_longhongvo23_20.jpg"),  # 224x224 crop
    ("L/seeeeeeel__30.jpg", "L_seeeeeeel_30.jpg"),        # 640x480 frame
    ("O/hackmit__50.jpg", "O_hackmit_50.jpg"),            # 96x96 crop
    ("V/hackmit__150.jpg", "V_hackmit_150.jpg"),          # 96x96 crop
    ("W/longhongvo23__103.jpg", "W_longhongvo23_103.jpg"),  # 224x224 crop
    ("C/hackmit__50.jpg", "C_hackmit_50.jpg"),            # no palm detected
    ("D/hackmit__450.jpg", "D_hackmit_450.jpg"),          # palm found, landmark presence < 0.5
]

SETTINGS = dict(static_image_mode=True, max_num_hands=1, model_complexity=1,
                min_detection_confidence=0.5)


def extract(zip_path):
    os.makedirs(DATA_DIR, exist_ok=True)
    with zipfile.ZipFile(zip_path) as z:
        manifest = {r["file"]: r for r in csv.DictReader(
            io.TextIOWrapper(z.open("asl-ood-dev/MANIFEST.csv"), encoding="utf-8"))}
        for src, dst in PHOTOS:
            row = manifest[src]
            assert row["source_tag"] in ("longhongvo23", "hackmit", "seeeeeeel"), row
            data = z.read("asl-ood-dev/" + src)
            assert hashlib.md5(data).hexdigest() == row["md5"], src
            with open(os.path.join(DATA_DIR, dst), "wb") as f:
                f.write(data)
            print(f"copied {src} -> {dst}  ({row['repository']}@{row['commit'][:10]}:{row['path_in_repo']})")


def make_graphs():
    from mediapipe.python.solution_base import SolutionBase
    from mediapipe.python.solutions import hands as mp_hands

    hands = mp_hands.Hands(**SETTINGS)
    # Same graph and parameters as Hands.__init__, plus the palm-detection streams.
    extended = SolutionBase(
        binary_graph_path=mp_hands._BINARYPB_FILE_PATH,
        side_inputs={"model_complexity": SETTINGS["model_complexity"],
                     "num_hands": SETTINGS["max_num_hands"],
                     "use_prev_landmarks": not SETTINGS["static_image_mode"]},
        calculator_params={
            "palmdetectioncpu__TensorsToDetectionsCalculator.min_score_thresh":
                SETTINGS["min_detection_confidence"],
            "handlandmarkcpu__ThresholdingCalculator.threshold": 0.5},
        outputs=["multi_hand_landmarks", "multi_hand_world_landmarks", "multi_handedness",
                 "palm_detections", "hand_rects_from_palm_detections"])
    return hands, extended


def run_one(hands, extended, path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    res = hands.process(rgb)
    ext = extended.process({"image": rgb})
    out = {"width": w, "height": h, "found": res.multi_hand_landmarks is not None}

    if res.multi_hand_landmarks:
        lms = res.multi_hand_landmarks[0].landmark
        ext_lms = ext.multi_hand_landmarks[0].landmark
        assert all(a.x == b.x and a.y == b.y and a.z == b.z for a, b in zip(lms, ext_lms))
        out["landmarks"] = [[l.x * w, l.y * h, l.z * w] for l in lms]
        out["z_norm"] = [l.z for l in lms]
        out["world_landmarks_m"] = [[l.x, l.y, l.z] for l in res.multi_hand_world_landmarks[0].landmark]
        c = res.multi_handedness[0].classification[0]
        out["handedness"] = {"label": c.label, "score": c.score, "index": c.index}
    else:
        assert ext.multi_hand_landmarks is None

    dets = []
    for d in (ext.palm_detections or []):
        ld = d.location_data
        bb = ld.relative_bounding_box
        dets.append({
            "score": d.score[0],
            "box": {"xmin": bb.xmin * w, "ymin": bb.ymin * h,
                    "width": bb.width * w, "height": bb.height * h},
            "keypoints": [[k.x * w, k.y * h] for k in ld.relative_keypoints],
        })
    out["palm_detections"] = dets
    rects = []
    for r in (ext.hand_rects_from_palm_detections or []):
        rects.append({"x_center": r.x_center * w, "y_center": r.y_center * h,
                      "width": r.width * w, "height": r.height * h, "rotation": r.rotation})
    out["hand_rects_from_palm"] = rects
    return out


def rounded(x):
    """Pixel values to 1e-4 px, other floats (scores, radians, metres) to 7 significant digits."""
    if isinstance(x, float):
        return float(f"{x:.7g}") if abs(x) < 10 else round(x, 4)
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--extract-from", metavar="ZIP", help="asl-ood-dev.zip to copy the photos from")
    ap.add_argument("--model-complexity", type=int, choices=[0, 1], default=1)
    ap.add_argument("--out", help="default: tests/data/hands/reference.json (reference_lite.json for 0)")
    args = ap.parse_args()
    SETTINGS["model_complexity"] = args.model_complexity
    if not args.out:
        args.out = os.path.join(DATA_DIR, "reference.json" if args.model_complexity == 1 else "reference_lite.json")
    if args.extract_from:
        extract(args.extract_from)

    import mediapipe
    hands, extended = make_graphs()
    photos = {}
    for _, name in PHOTOS:
        r = run_one(hands, extended, os.path.join(DATA_DIR, name))
        photos[name] = r
        lm = r.get("landmarks")
        print(f"{name:26s} {r['width']}x{r['height']}  found={r['found']!s:5s} "
              f"palm={[round(d['score'], 3) for d in r['palm_detections']]} "
              + (f"handedness={r['handedness']['label']} {r['handedness']['score']:.3f}  "
                 f"wrist=({lm[0][0]:.1f},{lm[0][1]:.1f})" if lm else ""))
    doc = {
        "generator": "scripts/hand_models/reference.py",
        "mediapipe_version": mediapipe.__version__,
        "settings": SETTINGS,
        "units": "pixels of the original photo, origin top-left; landmarks [x, y, z] with "
                 "z = MediaPipe normalised z * image width (negative = nearer the camera); "
                 "palm detection after weighted NMS and letterbox removal; rotation in radians",
        "handedness_note": "MediaPipe assumes a mirrored (selfie) image; label as returned",
        "photos": photos,
    }
    text = json.dumps(rounded(doc), indent=1)
    # one line per point: collapse the innermost lists of numbers
    text = re.sub(r"\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    print("wrote", os.path.relpath(args.out, REPO))


if __name__ == "__main__":
    main()
