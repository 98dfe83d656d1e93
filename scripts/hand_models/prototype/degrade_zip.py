"""Every photo of a Kaggle-layout zip, plus COPIES degraded copies of each training photo
(`<stem>_deg<k>.jpg` beside it): motion blur for half of them (3-10 % of the longer side, any
direction), else defocus blur for 40 % of the rest (sigma 0.5-1.5 % of the side); always an
exposure gain and gamma and a colour cast; sensor noise (30 %), a low resolution (30 %), strong
JPEG compression (half; the rest are saved at quality 90). Prototype of docs/hands/classifier.md section 11.16: do
landmarks of photos taken the way the hard dev sources were teach the handshape model to read
them? (Measured: no.)

    python3 degrade_zip.py subset200-not64.zip degraded.zip [COPIES]   # Pillow, NumPy, SciPy
"""
import io, sys, zipfile, random
import numpy as np
from PIL import Image, ImageFilter
from scipy.ndimage import convolve

def motion_kernel(length, angle):
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    for t in np.linspace(-c, c, length * 3):
        x = c + t * np.cos(angle); y = c + t * np.sin(angle)
        k[int(round(y)), int(round(x))] = 1
    return k / k.sum()

def degrade(img, rng):
    a = np.asarray(img.convert("RGB"), np.float32)
    side = max(a.shape[:2])
    if rng.random() < 0.5:
        L = int(rng.uniform(0.03, 0.10) * side) | 1
        if L >= 3:
            k = motion_kernel(L, rng.uniform(0, np.pi))
            a = np.stack([convolve(a[..., c], k, mode="nearest") for c in range(3)], -1)
    elif rng.random() < 0.4:
        a = np.asarray(Image.fromarray(a.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(0.005, 0.015) * side)), np.float32)
    gain = rng.uniform(0.6, 1.4); gamma = rng.uniform(0.7, 1.5)
    a = 255 * ((a / 255).clip(0, 1) ** gamma) * gain
    a = a * np.array([rng.uniform(0.85, 1.15) for _ in range(3)], np.float32)
    if rng.random() < 0.3:
        a = a + np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(3, 12), a.shape)
    im = Image.fromarray(a.clip(0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        f = rng.uniform(0.4, 0.7); w, h = im.size
        im = im.resize((max(8, int(w * f)), max(8, int(h * f))), Image.BILINEAR).resize((w, h), Image.BILINEAR)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=rng.randint(20, 70) if rng.random() < 0.5 else 90)
    return out.getvalue()

def main(src, dst, copies=1, seed=0):
    rng = random.Random(seed)
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as o:
        for n in z.namelist():
            if not n.endswith(".jpg"):
                continue
            o.writestr(n, z.read(n))
            if not n.startswith("asl_alphabet_train/"):
                continue
            img = Image.open(io.BytesIO(z.read(n)))
            for k in range(copies):
                o.writestr(n[:-4] + f"_deg{k}.jpg", degrade(img, rng))

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
