#!/usr/bin/env python3
"""Photos of three more signers, each one person's MIT-licensed webcam captures of A–Z, in
asl-ood-dev's layout (`<LETTER>/<source>__<n>.jpg`), for `asl eval --data … --by-source`: other
people's photos that no model here trains on (docs/hands/classifier.md 11.15: measured as more
rows of the other signers' table too, not adopted).

    git clone --bare https://github.com/gunsai75/AI_capstone_SLR gunsai75.git
    git clone --bare https://github.com/Lolzorus/IA-et-apprentissage lolzorus.git
    git clone --bare https://github.com/t32rahman/ASL-ML t32rahman.git
    python3 scripts/webcam_letters_zip.py gunsai75.git lolzorus.git t32rahman.git webcam-letters.zip
    asl eval --model <model> --data webcam-letters.zip --by-source

Each repository holds 100–120 frames a letter taken in one burst (each repository's capture
script saves a webcam frame every 25–33 ms while the signer holds the handshape, 3–4 s a
letter), so the frames
of a letter are near copies of one pose: `PER_LETTER` evenly spaced frames a letter are kept
(the rest would add no measurement: each source × letter is about one independent example).
"""
import subprocess
import sys

from git_blobs import atomic_zip, git

PER_LETTER = 10
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# source tag, repository, commit, folder of letter k (its frames are <folder>/<n>.jpg)
SOURCES = [
    # data/0..25 are A–Z (test_classifier.py's `labels_dict`). The photos were deleted from the
    # repository after this commit; its LICENSE predates them.
    ("gunsai75", "gunsai75/AI_capstone_SLR", "e6a602a1b9e658a00e26798ebf82ae90cc4fe614", lambda k: f"data/{k}"),
    # data/0..25 are A–Z (`labels_dict = {i: chr(65 + i)}`); 26 (space) and 27 (end) are not letters.
    ("lolzorus", "Lolzorus/IA-et-apprentissage", "fa449aef39e51f9605cdb0b257bc2ee12951dff3", lambda k: f"data/{k}"),
    ("t32rahman", "t32rahman/ASL-ML", "1762ecebad64dae291fbdb3fe68933424721632e", lambda k: f"data/{LETTERS[k]}"),
]


def frames(git_dir, commit, folder):
    """The folder's frames in capture order (their numbers)."""
    names = git(git_dir, "ls-tree", "-z", "--name-only", f"{commit}:{folder}").decode().split("\0")
    numbered = [int(n[:-4]) for n in names if n.endswith(".jpg") and n[:-4].isdigit()]
    return sorted(numbered)


def evenly_spaced(items, k):
    """k items spread over the whole list (the first included)."""
    if len(items) <= k:
        return list(items)
    return [items[i * len(items) // k] for i in range(k)]


def main(git_dirs, out):
    # Clones given in another order than SOURCES' would file one signer's photos as another's.
    for git_dir, (_, repository, commit, _) in zip(git_dirs, SOURCES):
        check = ["git", f"--git-dir={git_dir}", "cat-file", "-e", f"{commit}^{{commit}}"]
        if subprocess.run(check, capture_output=True).returncode != 0:
            order = ", ".join(r for _, r, _, _ in SOURCES)
            sys.exit(f"{git_dir} does not hold commit {commit} of {repository}: give the clones in this order: {order}")
    with atomic_zip(out) as z:
        for git_dir, (tag, repository, commit, folder_of) in zip(git_dirs, SOURCES):
            kept = 0
            for k, letter in enumerate(LETTERS):
                folder = folder_of(k)
                numbers = frames(git_dir, commit, folder)
                if len(numbers) < PER_LETTER:
                    sys.exit(f"{repository}@{commit[:7]}: {folder} holds {len(numbers)} frames, expected at least {PER_LETTER}")
                for n in evenly_spaced(numbers, PER_LETTER):
                    z.writestr(f"{letter}/{tag}__{n}.jpg", git(git_dir, "show", f"{commit}:{folder}/{n}.jpg"))
                    kept += 1
            print(f"{tag}: {kept} photos ({PER_LETTER} a letter) from {repository}@{commit[:7]}")


if __name__ == "__main__":
    if len(sys.argv) != len(SOURCES) + 2:
        sys.exit(__doc__)
    main(sys.argv[1:-1], sys.argv[-1])
