#!/usr/bin/env python3
"""Words spelled with other people's photos, read by a running server (issue 18's word target).

Picks N common English words (4-7 letters, seeded) from asl-core's bundled word list, spells
each with photos of `asl-ood-dev` (one source for the whole word when that source has every
letter, as one person would photograph it; otherwise a random source per letter), zips the
photos in spelling order (`01_<file>`, `02_<file>`, ...), posts the zip to `POST /predict`
(field `zipfile`) and compares the answer's `text` with the word.

    python3 benches/ood_words.py --server http://127.0.0.1:9696 \\
        --dev ../shared/data/asl-ood-dev.zip [--words 55] [--seed 7] [--json out.json]

Prints exact words, letter accuracy (letters read as the photo's letter, before the
lexicon), how each photo was answered (hand / no_hand_found / photo) and the p50/p90 latency.
Standard library only.
"""
import argparse
import io
import json
import random
import statistics
import sys
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dev_photos(dev_zip):
    """{letter: {source: [(name, bytes)]}} from asl-ood-dev's <LETTER>/<source>__<file> layout."""
    by_letter = {}
    with zipfile.ZipFile(dev_zip) as z:
        for name in z.namelist():
            parts = name.split("/")
            if len(parts) < 2 or "__" not in parts[-1]:
                continue
            letter, file = parts[-2], parts[-1]
            if len(letter) != 1 or not letter.isalpha():
                continue
            source = file.split("__")[0]
            by_letter.setdefault(letter.upper(), {}).setdefault(source, []).append((file, z.read(name)))
    return by_letter


def pick_words(n, seed):
    words = []
    for line in (ROOT / "asl-core/data/words_en.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        w = line.split("\t")[0]
        # J and Z are motion letters: one photo cannot show them; most word lists avoid them too.
        if 4 <= len(w) <= 7 and not set(w) & {"J", "Z"}:
            words.append(w)
        if len(words) >= 3000:
            break
    return random.Random(seed).sample(words, n)


def spell(word, photos, rng):
    sources = set.intersection(*(set(photos.get(c, {})) for c in word))
    out = []
    source = rng.choice(sorted(sources)) if sources else None
    for c in word:
        s = source or rng.choice(sorted(photos[c]))
        out.append(rng.choice(photos[c][s]))
    return out, source


def post_zip(server, files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, (name, data) in enumerate(files, 1):
            z.writestr(f"{i:02d}_{name}", data)
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"zipfile\"; filename=\"word.zip\"\r\n"
        "Content-Type: application/zip\r\n\r\n"
    ).encode() + buf.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        server.rstrip("/") + "/predict",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        answer = json.load(r)
    return answer, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="http://127.0.0.1:9696")
    ap.add_argument("--dev", default=str(ROOT.parent / "shared/data/asl-ood-dev.zip"))
    ap.add_argument("--words", type=int, default=55)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", help="write every word's result here")
    a = ap.parse_args()
    photos = dev_photos(a.dev)
    rng = random.Random(a.seed)
    results, latencies, paths = [], [], {}
    letters_ok = letters = 0
    for word in pick_words(a.words, a.seed):
        files, source = spell(word, photos, rng)
        answer, secs = post_zip(a.server, files)
        latencies.append(secs)
        read = [l["class"] for l in answer["letters"]]
        letters += len(word)
        letters_ok += sum(1 for c, r in zip(word, read) if c == r)
        for l in answer["letters"]:
            p = l.get("answered_by", {}).get("path", "photo")
            paths[p] = paths.get(p, 0) + 1
        results.append(dict(word=word, source=source, text=answer["text"], letters="".join(
            r if len(r) == 1 else "?" for r in read), ok=answer["text"] == word, seconds=secs))
        print(f"{word:<8} {answer['text']:<12} {results[-1]['letters']:<8} {'ok' if results[-1]['ok'] else '--'}"
              f"  {source or 'mixed'}  {secs * 1000:.0f} ms", flush=True)
    exact = sum(r["ok"] for r in results)
    q = statistics.quantiles(latencies, n=10)
    print(f"exact words: {exact}/{len(results)} ({100 * exact / len(results):.1f}%); "
          f"letters read right: {letters_ok}/{letters} ({100 * letters_ok / letters:.1f}%)")
    print(f"answered by: {paths}; latency per word p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p90 {q[8] * 1000:.0f} ms")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(exact=exact, words=len(results), results=results), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
