#!/usr/bin/env python3
"""Copy the photos of a dataset zip that a cache holds out for validation (by file name).

    python3 scripts/zip_validation_photos.py H64/cache/<hash>-48px-val20-seed42.aslcache \\
        ../shared/data/asl-alphabet-200px-subset.zip kaggle200-cnn-validation.zip

The photo CNN of the two-reader recipe (README, "Other people's hands") trains on the 64 px
archive; its cache's validation photos were never trained on. Their 200 px originals in the
200 px subset are not in `scripts/zip_without_names.py`'s output either, so neither reader
trained on them: 811 more of the Kaggle signer's photos to measure the fused model on
(`asl eval --data <out>`; docs/hands/classifier.md, 11.14). Written as `kaggle/<CLASS>/<file>`,
the layout `asl eval --data` reads. Standard library only; entries are copied byte for byte.
"""
import json
import struct
import sys

from zip_without_names import copy_zip  # the scripts folder is on sys.path when run

CACHE_FORMAT = 1  # asl-core/src/prep.rs: the header layout this reads


def validation_photos(cache):
    """The (class, file name) of a cache's validation photos (format: "ASLCACHE", u32 format,
    u32 header length, header JSON; the header's `files` lists training then validation)."""
    with open(cache, "rb") as f:
        if f.read(8) != b"ASLCACHE":
            sys.exit(f"{cache}: not an asl cache")
        version, length = struct.unpack("<II", f.read(8))
        if version != CACHE_FORMAT:
            sys.exit(f"{cache}: cache format {version}, this script reads {CACHE_FORMAT}")
        header = json.loads(f.read(length))
    files = header["files"][header["n_train"] : header["n_train"] + header["n_val"]]
    return {tuple(f.split("/")[-2:]) for f in files}


def main(cache, source, out):
    wanted = validation_photos(cache)

    def new_name(path):
        parts = path.split("/")
        photo = tuple(parts[-2:])
        return "kaggle/" + "/".join(photo) if "asl_alphabet_train" in parts and photo in wanted else None

    kept = copy_zip(source, out, new_name)
    if not kept:
        sys.exit(f"none of the {len(wanted)} validation photos of {cache} is in {source}")
    print(f"{out}: {kept} of {len(wanted)} validation photos of {cache} found in {source}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
