#!/usr/bin/env python3
"""One copy of each source photo of David Lee's public-domain Roboflow set "American Sign
Language Letters" v1, as thesoorajsingh/Project-S holds it, in asl-ood-dev's layout
(`<LETTER>/roboflow__<photo>_<split>.jpg`), for `asl eval --data … --by-source` and the other
signers' table (asl-core/data/NOTICE_other_signers.md, docs/hands/classifier.md 11.8).

    git clone https://github.com/thesoorajsingh/Project-S && git -C Project-S checkout 2f4c8d5
    python3 scripts/roboflow_letters_zip.py Project-S/.git roboflow-asl.zip

The set's train split holds 3 augmented copies of each source photo (Roboflow names them
`<photo>_jpg.rf.<hash>.jpg`); the first in name order is kept, so 720 photos in all (a kept
train copy may be flipped, cropped by up to 20 % or turned by up to 5° by Roboflow).
"""
import collections
import sys

from git_blobs import atomic_zip, git

COMMIT = "2f4c8d5010b27d49ac162a586efd4b9a6bdf90c9"
PHOTOS = 720  # 504 train + 144 valid + 72 test source photos


def main(git_dir, out):
    names = git(git_dir, "ls-tree", "-r", "-z", COMMIT, "--name-only").decode().split("\0")
    first = {}
    for name in sorted(names):
        parts = name.split("/")
        if len(parts) != 4 or parts[:2] != ["data", "ASL-data"] or not name.endswith(".jpg"):
            continue
        photo = parts[3].split("_jpg")[0]  # "A22"
        first.setdefault(photo, (parts[2], name))
    if len(first) != PHOTOS:
        sys.exit(f"{len(first)} source photos at {COMMIT}, expected {PHOTOS}")
    per_letter = collections.Counter()
    with atomic_zip(out) as z:
        for photo, (split, name) in sorted(first.items()):
            letter = photo.rstrip("0123456789")
            if len(letter) != 1 or not letter.isupper():
                sys.exit(f"unexpected photo name {name}")
            z.writestr(f"{letter}/roboflow__{photo}_{split}.jpg", git(git_dir, "show", f"{COMMIT}:{name}"))
            per_letter[letter] += 1
    print(f"{sum(per_letter.values())} photos:", " ".join(f"{k}={v}" for k, v in sorted(per_letter.items())))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
