"""Step 1: hand detection + 21 landmarks with MediaPipe 0.10.21 (legacy `solutions.hands`).

Reads photos straight out of the data zips (nothing is unpacked to disk) and writes one .npz
per data set under landmarks/.

Detection cascade (stops at the first step that finds a hand):
  step 1  original photo,                      min_detection_confidence 0.5
  step 2  photo with 25 % black padding,        0.5
  step 3  original photo,                      0.3
  step 4  padded photo,                        0.3
  step 5  greyscale (3 channels), padded,       0.3
  step 6  photo with 50 % black padding,        0.3
  step 7  photo with 100 % black padding,       0.3   (hands that fill the frame)
  step 0  = no hand found.
(Steps 6-7 were added after the first run, on seeing that heidilyncaling's large hands were
missed; `python extract_landmarks.py WHICH fill` re-runs only the photos not found yet.)

Saved per photo (arrays aligned with `files`):
  files, labels, sources (dev: file-name prefix before "__"; Kaggle: "kaggle"), width, height,
  found (bool), step (int 0..5),
  lm_px   [N,21,3] float32: x, y in pixels of the ORIGINAL photo (padding removed),
          z in the same pixel scale (MediaPipe's normalised z times the processed image width),
  world   [N,21,3] float32: MediaPipe world landmarks (metres, hand-centred),
  hand_label (0 = "Left", 1 = "Right", -1 = none) and hand_score, as MediaPipe reports them
  (MediaPipe assumes a mirrored selfie image, see features.py for how it is used).

Usage: python extract_landmarks.py kaggle|dev [fill]
"""
import io
import sys
import time
import zipfile

import cv2
import numpy as np
import mediapipe as mp

ZIPS = {
    "kaggle": "/work/shared/data/asl-alphabet-200px-subset.zip",
    "dev": "/work/shared/data/asl-ood-dev.zip",
}
PAD_FRAC = 0.25


def list_photos(which, zf):
    out = []
    for name in sorted(zf.namelist()):
        low = name.lower()
        if not (low.endswith(".jpg") or low.endswith(".jpeg") or low.endswith(".png")):
            continue
        parts = name.split("/")
        if which == "kaggle":
            # asl_alphabet_train/asl_alphabet_train/<CLASS>/<CLASS><n>.jpg
            out.append((name, parts[-2], "kaggle"))
        else:
            # asl-ood-dev/<LETTER>/<source>__<file>
            out.append((name, parts[-2], parts[-1].split("__")[0]))
    return out


def pad(img, frac):
    h, w = img.shape[:2]
    py, px = int(round(h * frac)), int(round(w * frac))
    return cv2.copyMakeBorder(img, py, py, px, px, cv2.BORDER_CONSTANT, value=0), px, py


def run(hands, rgb):
    res = hands.process(rgb)
    if not res.multi_hand_landmarks:
        return None
    lm = res.multi_hand_landmarks[0].landmark
    h, w = rgb.shape[:2]
    pts = np.array([[p.x * w, p.y * h, p.z * w] for p in lm], np.float32)
    world = np.array([[p.x, p.y, p.z] for p in res.multi_hand_world_landmarks[0].landmark],
                     np.float32)
    cls = res.multi_handedness[0].classification[0]
    return pts, world, (1 if cls.label == "Right" else 0), cls.score


def main(which, fill=False):
    old = np.load(f"/work/handwork/proto/landmarks/{which}.npz") if fill else None
    zf = zipfile.ZipFile(ZIPS[which])
    photos = list_photos(which, zf)
    kw = dict(static_image_mode=True, max_num_hands=1, model_complexity=1)
    h50 = mp.solutions.hands.Hands(min_detection_confidence=0.5, **kw)
    h30 = mp.solutions.hands.Hands(min_detection_confidence=0.3, **kw)
    n = len(photos)
    lm_px = np.zeros((n, 21, 3), np.float32)
    world = np.zeros((n, 21, 3), np.float32)
    found = np.zeros(n, bool)
    step = np.zeros(n, np.int8)
    hl = -np.ones(n, np.int8)
    hs = np.zeros(n, np.float32)
    W = np.zeros(n, np.int32)
    H = np.zeros(n, np.int32)
    t0 = time.time()
    for i, (name, label, src) in enumerate(photos):
        if old is not None and old["found"][i]:
            for k, arr in [("lm_px", lm_px), ("world", world), ("found", found), ("step", step),
                           ("hand_label", hl), ("hand_score", hs), ("width", W), ("height", H)]:
                arr[i] = old[k][i]
            continue
        buf = np.frombuffer(zf.read(name), np.uint8)
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        H[i], W[i] = rgb.shape[:2]
        padded, px, py = pad(rgb, PAD_FRAC)
        grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        grey_p, _, _ = pad(grey, PAD_FRAC)
        cascade = [
            (h50, rgb, 0, 0),
            (h50, padded, px, py),
            (h30, rgb, 0, 0),
            (h30, padded, px, py),
            (h30, grey_p, px, py),
        ]
        for frac in (0.5, 1.0):
            big, bx, by = pad(rgb, frac)
            cascade.append((h30, big, bx, by))
        for k, (hands, img, ox, oy) in enumerate(cascade, start=1):
            r = run(hands, img)
            if r is None:
                continue
            pts, wd, lab, sc = r
            pts[:, 0] -= ox
            pts[:, 1] -= oy
            lm_px[i], world[i], hl[i], hs[i] = pts, wd, lab, sc
            found[i], step[i] = True, k
            break
        if i % 200 == 0:
            print(f"{which} {i}/{n} found {found[:i+1].mean():.3f} "
                  f"{time.time()-t0:.0f}s", flush=True)
    np.savez_compressed(
        f"/work/handwork/proto/landmarks/{which}.npz",
        files=np.array([p[0] for p in photos]), labels=np.array([p[1] for p in photos]),
        sources=np.array([p[2] for p in photos]), width=W, height=H, found=found, step=step,
        lm_px=lm_px, world=world, hand_label=hl, hand_score=hs)
    print("done", which, found.mean(), time.time() - t0)


if __name__ == "__main__":
    main(sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "fill")
