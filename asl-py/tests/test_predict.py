"""asl.Classifier: inputs, dtypes and shapes, and agreement with the Rust CLI."""

import io
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

import asl
from conftest import cli_binary, need


def pil():
    try:
        from PIL import Image
    except ImportError:
        need(False, "Pillow is not installed")
    return Image


def rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_classifier_properties(clf, trained):
    assert clf.input_size == 32
    assert clf.classes == asl.CLASSES and len(asl.CLASSES) == asl.NUM_CLASSES == 29
    assert clf.path == trained.model_dir
    assert clf.card["name"] == "tiny"
    assert "tiny" in repr(clf)


def test_predict_one_image_and_a_batch(clf):
    probs, labels = clf.predict_with_proba(rgb(32, 32))
    assert probs.shape == (1, 29) and probs.dtype == np.float32 and probs.flags.c_contiguous
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert labels == [asl.CLASSES[int(probs[0].argmax())]]
    batch = np.stack([rgb(32, 32, s) for s in range(5)])
    bp, bl = clf.predict_with_proba(batch)
    assert bp.shape == (5, 29) and len(bl) == 5
    # Row by row the same as one at a time.
    assert np.allclose(bp[0], probs[0], atol=1e-5)
    # The output array owns no copy of ours: it wraps the core's buffer.
    assert not bp.flags.owndata


def test_predict_and_predict_proba_in_the_scikit_learn_style(clf, photos):
    paths = [str(p) for p in photos]
    proba = clf.predict_proba(paths)
    labels = clf.predict(paths)
    assert isinstance(labels, np.ndarray) and labels.shape == (5,) and labels.dtype.kind == "U"
    assert proba.shape == (5, 29) and proba.dtype == np.float32
    assert list(clf.classes_) == asl.CLASSES and isinstance(clf.classes_, np.ndarray)
    # What scikit-learn's estimators promise: predict is classes_[argmax of predict_proba].
    assert (clf.classes_[proba.argmax(axis=1)] == labels).all()
    pair_probs, pair_labels = clf.predict_with_proba(paths)
    assert np.allclose(pair_probs, proba, atol=1e-6) and list(labels) == pair_labels


def test_predict_any_size_is_resized_like_training(clf):
    big = rgb(50, 70, 3)
    probs, _ = clf.predict_with_proba(big)
    assert probs.shape == (1, 29)
    # Non-contiguous views (a flip, a crop, Fortran order) read the logical pixels.
    flipped = big[:, ::-1]
    assert np.allclose(clf.predict_with_proba(flipped)[0], clf.predict_with_proba(np.ascontiguousarray(flipped))[0], atol=1e-6)
    fortran = np.asfortranarray(big)
    assert np.allclose(clf.predict_with_proba(fortran)[0], probs, atol=1e-6)
    crop = rgb(40, 40, 4)[4:36, 4:36]
    assert np.allclose(clf.predict_with_proba(crop)[0], clf.predict_with_proba(crop.copy())[0], atol=1e-6)
    # A read-only array is fine (it is only borrowed for reading).
    ro = big.copy()
    ro.setflags(write=False)
    assert np.allclose(clf.predict_with_proba(ro)[0], probs, atol=1e-6)


def test_predict_paths_bytes_pil_and_lists(clf, photos):
    by_path, labels = clf.predict_with_proba([str(p) for p in photos])
    assert by_path.shape == (5, 29)
    assert np.allclose(clf.predict_with_proba(photos[0])[0], by_path[:1], atol=1e-6)  # a pathlib.Path
    assert np.allclose(clf.predict_with_proba(photos[0].read_bytes())[0], by_path[:1], atol=1e-6)
    Image = pil()
    png = Image.open(photos[0]).convert("RGB")
    buf = io.BytesIO()
    png.save(buf, format="PNG")
    from_pil, _ = clf.predict_with_proba(png)
    from_png_bytes, _ = clf.predict_with_proba(buf.getvalue())
    assert np.allclose(from_pil, from_png_bytes, atol=1e-6)
    rgba = png.convert("RGBA")
    assert np.allclose(clf.predict_with_proba(rgba)[0], from_pil, atol=1e-6)
    mixed, mixed_labels = clf.predict_with_proba([photos[0], np.asarray(png), png, np.stack([np.asarray(png)] * 2)])
    assert mixed.shape == (5, 29) and len(mixed_labels) == 5
    empty, none = clf.predict_with_proba([])
    assert empty.shape == (0, 29) and none == []


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.zeros((32, 32, 3), dtype=np.float32), TypeError, "uint8"),
        (np.zeros((32, 32, 3), dtype=np.int64), TypeError, "uint8"),
        (np.zeros((32, 32), dtype=np.uint8), ValueError, "grayscale"),
        (np.zeros((32, 32, 4), dtype=np.uint8), ValueError, "alpha"),
        (np.zeros((1, 2, 32, 32, 3), dtype=np.uint8), ValueError, "shape"),
        (np.zeros((0, 32, 3), dtype=np.uint8), ValueError, "1×1"),
        (42, TypeError, "cannot read an image from int"),
        ([[1, 2, 3]], TypeError, "nested lists"),
        ([np.zeros((8, 8, 3), dtype=np.uint8), 3.5], TypeError, "float"),
    ],
)
def test_predict_rejects_wrong_inputs(clf, bad, error, match):
    with pytest.raises(error, match=match):
        clf.predict_with_proba(bad)


def test_predict_unreadable_files(clf, tmp_path):
    with pytest.raises(asl.ModelError, match="missing.jpg"):
        clf.predict_with_proba(tmp_path / "missing.jpg")
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    with pytest.raises(asl.ModelError, match="junk.jpg"):
        clf.predict_with_proba([junk])


def run_cli(home, model_dir, files, *extra):
    binary = cli_binary()
    need(binary.is_file(), f"{binary} is missing (run `cargo test --workspace` first or set ASL_BIN)")
    cmd = [str(binary), "--home", str(home), "--json", "predict", "--model", str(model_dir), "--probabilities", *extra, *map(str, files)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_same_probabilities_as_the_cli(clf, trained, home, photos, tmp_path):
    """Files, and arrays of PNG pixels of other sizes: the CLI's probabilities to 1e-5."""
    Image = pil()
    pngs = []
    for k, p in enumerate(photos):
        img = Image.open(p).convert("RGB").resize((40 + 9 * k, 56 - 5 * k))
        png = tmp_path / f"{k:02d}.png"
        img.save(png)
        pngs.append(png)
    files = list(photos) + pngs
    cli = run_cli(home, trained.model_dir, files)
    cli_probs = np.array(cli["probabilities"], dtype=np.float32)
    assert cli_probs.shape == (len(files), 29)
    probs, labels = clf.predict_with_proba(files)
    np.testing.assert_allclose(probs, cli_probs, atol=1e-5, rtol=0)
    assert labels == [letter["class"] for letter in cli["letters"]]
    # PNG pixels as numpy arrays (resized by the bindings) give the CLI's answer too.
    arrays = [np.asarray(Image.open(p)) for p in pngs]
    from_arrays, _ = clf.predict_with_proba(arrays)
    np.testing.assert_allclose(from_arrays, cli_probs[len(photos):], atol=1e-5, rtol=0)


def test_same_word_as_the_cli(clf, trained, home, photos):
    cli = run_cli(home, trained.model_dir, photos)
    word = clf.predict_word(photos)
    assert word.text == cli["text"]
    assert abs(word.confidence - cli["confidence"]) < 1e-5
    assert [l.label for l in word.letters] == [l["class"] for l in cli["letters"]]
    assert [a.text for a in word.alternatives] == [a["text"] for a in cli["alternatives"]]
    d = word.to_dict()  # the same JSON as the CLI's, field for field
    assert {k: d[k] for k in cli if k != "probabilities"} == {k: v for k, v in cli.items() if k != "probabilities"}
    raw = run_cli(home, trained.model_dir, photos, "--raw")
    assert clf.predict_word(photos, raw=True).text == raw["text"]


def test_predict_word_from_a_zip_a_folder_and_arrays(clf, photos, tmp_path):
    by_files = clf.predict_word(photos)
    z = tmp_path / "word.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for k, p in enumerate(photos):
            zf.write(p, f"{k + 1:02d}.jpg")
        zf.writestr("__MACOSX/._01.jpg", b"junk")
    from_zip = clf.predict_word(z)
    assert from_zip.text == by_files.text and len(from_zip.letters) == 5
    assert [l.file for l in from_zip.letters] == ["01.jpg", "02.jpg", "03.jpg", "04.jpg", "05.jpg"]
    assert not from_zip.complete and from_zip.skipped  # __MACOSX is listed, never silently dropped
    folder = tmp_path / "photos"
    folder.mkdir()
    for k, p in enumerate(photos):
        (folder / f"{k + 1}.jpg").write_bytes(p.read_bytes())  # natural order: 1, 2, … not 1, 10
    (folder / ".DS_Store").write_bytes(b"x")
    from_folder = clf.predict_word(folder)
    assert from_folder.text == by_files.text and [l.file for l in from_folder.letters] == [f"{k}.jpg" for k in range(1, 6)]
    Image = pil()
    arrays = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in photos])
    from_arrays = clf.predict_word(arrays)
    assert [l.file for l in from_arrays.letters] == ["[0]", "[1]", "[2]", "[3]", "[4]"]
    assert isinstance(from_arrays.text, str) and str(from_arrays) == from_arrays.text
    assert "WordEstimate" in repr(from_arrays)


def test_unreadable_photos_are_skipped_in_words(clf, photos, tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8 truncated")
    w = clf.predict_word([*photos, junk])
    assert len(w.letters) == 5 and not w.complete
    assert w.skipped[0][0] == "junk.jpg"
    with pytest.raises(asl.WordError, match="no readable photos"):
        clf.predict_word([junk])


def test_load_errors(tmp_path):
    with pytest.raises(asl.ModelError, match="not a model folder"):
        asl.Classifier.load(tmp_path)
    with pytest.raises(asl.TrackingError, match="no-such-alias"):
        asl.Classifier.load("no-such-alias", home=tmp_path)
    with pytest.raises(TypeError):
        asl.Classifier.load(12)


def test_predict_from_many_threads(clf):
    """One Classifier shared by threads (the GIL is released while the model runs)."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [np.stack([rgb(32, 32, 10 * t + k) for k in range(8)]) for t in range(4)]
    alone = [clf.predict_with_proba(b)[0] for b in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda b: clf.predict_with_proba(b)[0], batches))
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a, b, atol=1e-6)
