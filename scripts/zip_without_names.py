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


def copy_zip(source, out, new_name):
    """Copies, byte for byte, each file entry of `source` for which `new_name(path)` gives a
    name (None: left out; a name given twice: written once) into `out`. Written to `out.part`
    and renamed when complete; nothing is left behind when it fails or copies nothing.
    Returns how many entries it copied."""
    written = set()
    try:
        with zipfile.ZipFile(source) as src, zipfile.ZipFile(out + ".part", "w") as dst:
            for info in src.infolist():
                name = None if info.is_dir() else new_name(info.filename)
                if name is None or name in written:
                    continue
                # The entry's own metadata where it keeps its name.
                dst.writestr(info if name == info.filename else name, src.read(info.filename))
                written.add(name)
    except BaseException:
        if os.path.exists(out + ".part"):
            os.remove(out + ".part")
        raise
    if written:
        os.replace(out + ".part", out)
    else:
        os.remove(out + ".part")
    return len(written)


def main(source, exclude, out):
    with zipfile.ZipFile(exclude) as z:
        taken = {n for n in z.namelist() if not n.endswith("/")}
    held = lambda n: n in taken and "/asl_alphabet_train/" in n  # noqa: E731
    kept = copy_zip(source, out, lambda n: None if held(n) else n)
    if not kept:
        sys.exit(f"every photo of {source} is held by {exclude}: nothing written")
    with zipfile.ZipFile(source) as z:
        dropped = sum(1 for n in z.namelist() if held(n))
    print(f"{out}: {kept} photos kept, {dropped} left out (held by {exclude})")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
