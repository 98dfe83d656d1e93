#!/usr/bin/env python3
"""Would tracking speed up a word without changing what is read? MediaPipe's video mode vs
its still-image mode on the photos of spelled words.

    python scripts/hand_models/track_vs_static.py [--dev ../shared/data/asl-ood-dev.zip]
        [--words 55] [--seed 7]

Spells the same words as `benches/ood_words.py` (same seed, same photos), and runs each word's
photos in order through two `mediapipe.solutions.hands.Hands` (full models, one hand):
static_image_mode=True (palm detection on every photo, what asl does) and
static_image_mode=False (MediaPipe's tracking: the next photo's crop comes from the previous
photo's landmarks, palm detection only when the hand is lost; it saves the palm pass, about
half of the networks' time). Prints how often each finds a hand, and, where both do, how far
the 21 landmarks move (mean distance over the hand's bounding-box side), overall and per
source. Needs the packages of `requirements.txt` (mediapipe, opencv, numpy).
"""
import argparse
import os
import random
import sys

import cv2
import mediapipe as mp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benches"))
from ood_words import dev_photos, pick_words, spell  # noqa: E402


def landmarks(result, image):
    if not result.multi_hand_landmarks:
        return None
    h, w = image.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in result.multi_hand_landmarks[0].landmark])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dev", default=os.path.join(ROOT, "..", "shared/data/asl-ood-dev.zip"))
    ap.add_argument("--words", type=int, default=55)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    photos = dev_photos(args.dev)
    rng = random.Random(args.seed)
    moved, by_source = [], {}
    counts = {"both": 0, "still only": 0, "tracking only": 0, "neither": 0}
    for word in pick_words(args.words, args.seed):
        files, source = spell(word, photos, rng)
        hands = mp.solutions.hands
        with hands.Hands(static_image_mode=True, max_num_hands=1) as still, hands.Hands(
            static_image_mode=False, max_num_hands=1
        ) as tracking:
            for _, data in files:
                bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                a = landmarks(still.process(image), image)
                b = landmarks(tracking.process(image), image)
                if a is None or b is None:
                    counts["neither" if a is None and b is None else "tracking only" if a is None else "still only"] += 1
                    continue
                counts["both"] += 1
                side = max(np.ptp(a[:, 0]), np.ptp(a[:, 1]))
                d = float(np.linalg.norm(a - b, axis=1).mean() / side)
                moved.append(d)
                by_source.setdefault(source or "mixed", []).append(d)
    print("photos:", ", ".join(f"{k} {v}" for k, v in counts.items()))
    m = np.array(moved)
    print(
        f"landmarks moved (mean distance / hand side), {len(m)} photos: median {np.median(m):.3f}, "
        f"p90 {np.percentile(m, 90):.3f}, max {m.max():.3f}; over 5 %: {(m > 0.05).sum()}, "
        f"over 10 %: {(m > 0.10).sum()}"
    )
    for source, v in sorted(by_source.items()):
        print(f"  {source:<16} {len(v):>3} photos: median {np.median(v):.3f}, p90 {np.percentile(v, 90):.3f}")


if __name__ == "__main__":
    main()
