#!/usr/bin/env python3
"""Timing and agreement: the numpy + onnxruntime pipeline vs MediaPipe's Python Hands.

    python scripts/hand_models/bench.py [--repeat 5]              # the test photos
    python scripts/hand_models/bench.py --zip asl-ood-dev.zip     # every photo of an archive

For each variant (full = model_complexity 1, lite = 0) it runs, on the same photos:
  * pipeline_numpy.HandPipeline with onnxruntime on ONE thread (intra- and inter-op 1):
    wall time per photo for the whole pipeline, and the time inside the two ONNX models;
  * mediapipe.solutions.hands.Hands(static_image_mode=True, max_num_hands=1, ...):
    wall time per photo of Hands.process (its own graph; XNNPACK; threads as MediaPipe sets).
and, with --zip, how often the two agree on "hand found" and the landmark error
(distance / max(width, height)) where both found one. Photos are read from the archive in
memory; nothing is written.
"""
import argparse
import os
import sys
import time
import zipfile

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_numpy as P  # noqa: E402
from reference import PHOTOS  # noqa: E402


def load_photos(zip_path):
    if not zip_path:
        return [(name, P.load_rgb(os.path.join(P.DATA_DIR, name))) for _, name in PHOTOS]
    out = []
    with zipfile.ZipFile(zip_path) as z:
        for n in sorted(z.namelist()):
            if n.lower().endswith((".jpg", ".jpeg", ".png")):
                bgr = cv2.imdecode(np.frombuffer(z.read(n), np.uint8), cv2.IMREAD_COLOR)
                out.append((n, np.ascontiguousarray(bgr[:, :, ::-1])))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zip", help="run on every image of this archive (agreement + timing)")
    ap.add_argument("--repeat", type=int, default=5, help="passes over the photos for timing")
    ap.add_argument("--variants", default="full,lite")
    args = ap.parse_args()
    photos = load_photos(args.zip)
    repeat = 1 if args.zip else args.repeat
    print(f"{len(photos)} photos x {repeat} passes; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")

    import mediapipe as mp
    for variant in args.variants.split(","):
        complexity = 1 if variant == "full" else 0
        pipe = P.HandPipeline(variant, threads=1)
        hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1,
                                         model_complexity=complexity, min_detection_confidence=0.5)
        for _, img in photos[:2]:           # warm-up
            pipe(img), hands.process(img)
        pipe.timing = {k: 0.0 for k in pipe.timing}
        ours, theirs = {}, {}
        t_ours = t_mp = 0.0
        n_landmark_runs = 0
        for _ in range(repeat):
            for name, img in photos:
                t = time.perf_counter()
                ours[name] = pipe(img)
                t_ours += time.perf_counter() - t
                n_landmark_runs += len(ours[name]["rois"])
                t = time.perf_counter()
                theirs[name] = hands.process(img)
                t_mp += time.perf_counter() - t
        n = len(photos) * repeat
        print(f"\n[{variant}] onnxruntime 1 thread: {1000 * t_ours / n:.1f} ms/photo whole pipeline; "
              f"models: palm {1000 * pipe.timing['palm_model'] / n:.1f} ms/photo, landmark "
              f"{1000 * pipe.timing['landmark_model'] / max(n_landmark_runs, 1):.1f} ms/run "
              f"({n_landmark_runs / n:.2f} runs/photo); numpy pre/post "
              f"{1000 * (t_ours - sum(pipe.timing.values())) / n:.1f} ms/photo")
        print(f"[{variant}] mediapipe {mp.__version__} Hands.process: {1000 * t_mp / n:.1f} ms/photo")

        agree, errs, worst = 0, [], []
        for name, img in photos:
            o, r = ours[name], theirs[name]
            found_mp = r.multi_hand_landmarks is not None
            agree += o["found"] == found_mp
            if o["found"] and found_mp:
                H, W = img.shape[:2]
                ref = np.array([[l.x * W, l.y * H] for l in r.multi_hand_landmarks[0].landmark])
                e = np.linalg.norm(o["landmarks"][:, :2] - ref, axis=1) / max(W, H)
                errs.append(e)
                worst.append((e.max(), name))
            elif o["found"] != found_mp:
                worst.append((float("inf"), name + f" (ours {o['found']}, mediapipe {found_mp})"))
        e = np.concatenate(errs) if errs else np.zeros(1)
        per_photo = np.array([x.max() for x in errs]) if errs else np.zeros(1)
        print(f"[{variant}] agreement on 'found': {agree}/{len(photos)}; both found {len(errs)}; "
              f"landmark error max {100 * e.max():.3f}% mean {100 * e.mean():.4f}%; photos with max error "
              f"> 0.1%: {(per_photo > 0.001).sum()}, > 1%: {(per_photo > 0.01).sum()}, > 2%: {(per_photo > 0.02).sum()}")
        for v, name in sorted(worst, reverse=True)[:3]:
            print(f"    worst: {name} {100 * v:.3f}%")


if __name__ == "__main__":
    main()
