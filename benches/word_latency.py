#!/usr/bin/env python3
"""Latency of one word posted to a running server (issue 18's 10-photo word target, 150 ms p50).

Spells WORD (default WONDERFULS, 10 letters) with one source's photos of `asl-ood-dev` (the
first photo of each letter in name order, as one person would photograph the word), zips them
in spelling order (`01_<file>`, ...), posts the same zip to `POST /predict` (field `zipfile`)
N times after two warm-up posts and prints the answer, each photo's letter, path and detection step and the
p50/p90 latency.

    python3 benches/word_latency.py --server http://127.0.0.1:9696 \\
        --dev ../shared/data/asl-ood-dev.zip --source cryingbaker [--word WONDERFULS] [-n 20]

Standard library only.
"""
import argparse
import io
import json
import statistics
import sys
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def word_zip(dev_zip, source, word):
    """The word's photos by `source`, zipped in spelling order."""
    first = {}
    with zipfile.ZipFile(dev_zip) as z:
        for name in sorted(z.namelist()):
            parts = name.split("/")
            if len(parts) >= 2 and parts[-1].startswith(source + "__"):
                first.setdefault(parts[-2], name)
        missing = sorted({c for c in word if c not in first})
        if missing:
            sys.exit(f"{source} has no photo of {', '.join(missing)}")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as out:
            for i, letter in enumerate(word):
                name = first[letter]
                out.writestr(f"{i + 1:02d}_{name.split('/')[-1]}", z.read(name))
    return buf.getvalue()


def post(server, body, boundary):
    req = urllib.request.Request(
        server.rstrip("/") + "/predict",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        answer = json.loads(r.read())
    return (time.perf_counter() - t) * 1000, answer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="http://127.0.0.1:9696")
    ap.add_argument("--dev", default=str(ROOT.parent / "shared/data/asl-ood-dev.zip"))
    ap.add_argument("--source", default="cryingbaker")
    ap.add_argument("--word", default="WONDERFULS")
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    if args.n < 1:
        sys.exit("-n must be at least 1")
    zipped = word_zip(args.dev, args.source, args.word.upper())
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="zipfile"; filename="word.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode() + zipped + f"\r\n--{boundary}--\r\n".encode()
    for _ in range(2):
        post(args.server, body, boundary)
    times, answer = [], None
    for _ in range(args.n):
        ms, answer = post(args.server, body, boundary)
        times.append(ms)
    times.sort()
    paths = [
        f"{p['class']}:{p['answered_by']['path']}@{p['answered_by'].get('detection_step', '-')}"
        for p in answer["letters"]
    ]
    print(f"answer {answer.get('text')!r} for {args.word.upper()!r}; paths: {paths}")
    print(
        f"{len(args.word)}-photo word ({args.source}, {len(zipped):,} bytes zipped), {args.n} posts: "
        f"p50 {statistics.median(times):.0f} ms, p90 {times[max(0, int(0.9 * len(times)) - 1)]:.0f} ms, "
        f"min {times[0]:.0f} ms"
    )


if __name__ == "__main__":
    main()
