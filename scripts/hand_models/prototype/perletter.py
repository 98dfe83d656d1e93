"""Per-letter dev accuracy (found photos count wrong if no hand) for saved predictions."""
import sys
import numpy as np
import pipeline as P
dev = np.load(f"{P.LM_DIR}/dev.npz")
y = dev["labels"].astype(str)
names = sys.argv[1:]
preds = {n: np.load(f"results/pred_{n}.npy") for n in names}
print("L  n  " + " ".join(f"{n[-12:]:>12s}" for n in names) + "   top confusions (last)")
for L in P.LETTERS:
    m = y == L
    accs = [np.mean(preds[n][m] == L) for n in names]
    last = preds[names[-1]][m]
    wrong = last[last != L]
    u, c = np.unique(wrong, return_counts=True)
    conf = " ".join(f"{a}:{b}" for a, b in sorted(zip(u, c), key=lambda t: -t[1])[:4])
    print(f"{L} {m.sum():3d} " + " ".join(f"{a:12.2f}" for a in accs) + "   " + conf)
