#!/usr/bin/env python3
"""Copy a dataset zip without the training photos another zip also holds (by path).

    python3 scripts/zip_without_names.py ../shared/data/asl-alphabet-200px-subset.zip \\
        ../shared/data/asl-alphabet-64px.zip subset200-not64.zip

The 200 px subset and the 64 px archive share 4,139 training photos' names (the same Kaggle
photos, downscaled). A hand path trained on the 200 px photos beside a photo CNN trained on the
64 px archive (`asl train --photo-model`) is measured honestly only on photos neither reader saw:
this keeps the 4,561 the 64 px archive does not hold (docs/hands/classifier.md, 11.12).
Standard library only; entries are copied byte for byte.
"""
import os
import sys
import zipfile


def main(source, exclude, out):
    with zipfile.ZipFile(exclude) as z:
        taken = {n for n in z.namelist() if not n.endswith("/")}
    kept = dropped = 0
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(out + ".part", "w") as dst:
        for info in src.infolist():
            if info.is_dir():
                continue
            if info.filename in taken and "/asl_alphabet_train/" in info.filename:
                dropped += 1
                continue
            dst.writestr(info, src.read(info.filename))
            kept += 1
    os.replace(out + ".part", out)
    print(f"{out}: {kept} photos kept, {dropped} left out (held by {exclude})")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
