#!/usr/bin/env python3
"""Latency of one word posted to a running server (issue 18's 10-photo word target, 150 ms p50).

Spells WORD (default WONDERFULS, 10 letters) with one source's photos of `asl-ood-dev` (the
first photo of each letter in name order, as one person would photograph the word), zips them
in spelling order (`01_<file>`, ...), posts the same zip to `POST /predict` (field `zipfile`)
N times after two warm-up posts and prints the answer, each photo's letter, path and detection step and the
p50/p90 latency.

    python3 benches/word_latency.py --server http://127.0.0.1:9696 \\
        --dev ../shared/data/asl-ood-dev.zip --source cryingbaker [--word WONDERFULS] [-n 20]
        [--compare http://127.0.0.1:9697]

With `--compare`, a second server (another build, the same model) gets the same posts,
alternated one by one with the first (which goes first swaps every round): the VM this runs on drifts by ~15 % within an hour, so
only interleaved timings compare two builds; it prints both, and the second's p50 as a share
of the first's.

Standard library only.
"""
import argparse
import statistics
import sys
from pathlib import Path

# The dev set's reader and the zip post are ood_words.py's (same folder).
from ood_words import dev_photos, post_zip

ROOT = Path(__file__).resolve().parent.parent


def word_photos(dev_zip, source, word):
    """The word's photos by `source` (each letter's first in name order), in spelling order."""
    photos = dev_photos(dev_zip)
    missing = sorted({c for c in word if source not in photos.get(c, {})})
    if missing:
        sys.exit(f"{source} has no photo of {', '.join(missing)}")
    return [min(photos[c][source]) for c in word]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="http://127.0.0.1:9696")
    ap.add_argument("--dev", default=str(ROOT.parent / "shared/data/asl-ood-dev.zip"))
    ap.add_argument("--source", default="cryingbaker")
    ap.add_argument("--word", default="WONDERFULS")
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--compare", help="a second server, posted to alternately with --server")
    args = ap.parse_args()
    if args.n < 1:
        sys.exit("-n must be at least 1")
    word = args.word.upper()
    files = word_photos(args.dev, args.source, word)
    servers = [args.server] + ([args.compare] if args.compare else [])
    for server in servers:
        for _ in range(2):
            post_zip(server, files)
    times = [[] for _ in servers]
    answers = [None for _ in servers]
    for k in range(args.n):
        # Each round reverses the order (A B, B A, ...): neither server always goes first.
        order = list(enumerate(servers))
        for i, server in order if k % 2 == 0 else reversed(order):
            answers[i], seconds = post_zip(server, files)
            times[i].append(seconds * 1000)
    size = sum(len(d) for _, d in files)
    for server, t, answer in zip(servers, times, answers):
        t = sorted(t)
        paths = [
            f"{p['class']}:{p['answered_by']['path']}@{p['answered_by'].get('detection_step', '-')}"
            for p in answer["letters"]
        ]
        print(f"{server}: answer {answer.get('text')!r} for {word!r}; paths: {paths}")
        print(
            f"{server}: {len(word)}-photo word ({args.source}, {size:,} bytes of photos), {args.n} posts: "
            f"p50 {statistics.median(t):.0f} ms, p90 {t[max(0, int(0.9 * len(t)) - 1)]:.0f} ms, "
            f"min {t[0]:.0f} ms"
        )
    if args.compare:
        ratio = statistics.median(times[1]) / statistics.median(times[0])
        print(f"{args.compare} p50 / {args.server} p50 = {ratio:.3f} (posts alternated)")


if __name__ == "__main__":
    main()
