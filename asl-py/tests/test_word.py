"""asl.decode_word: the core's word decoders over a probability matrix."""

import numpy as np
import pytest

import asl


def one_hot(text, p=0.9, dtype=np.float32):
    """Rows for the classes spelled by `text` (" " is space, "-" del, "_" nothing)."""
    names = {" ": "space", "-": "del", "_": "nothing"}
    rows = np.full((len(text), 29), (1 - p) / 28, dtype=dtype)
    for i, ch in enumerate(text):
        rows[i, asl.CLASSES.index(names.get(ch, ch))] = p
    return rows


def test_decodes_words_and_phrases():
    w = asl.decode_word(one_hot("HELLO WORLD"))
    assert isinstance(w, asl.WordEstimate)
    assert w.text == "HELLO WORLD" and 0 < w.confidence <= 1
    assert [l.label for l in w.letters][:5] == list("HELLO") and w.letters[5].label == "space"
    assert w.letters[0].file == "[0]" and w.alternatives[0].text == "HELLO WORLD"
    assert len(w.top3) == 11 and w.top3[0][0][0] == "H"
    assert w.complete and w.skipped == []
    assert asl.decode_word(one_hot("HX_-I")).text == "HI"


def test_lexicon_corrects_and_raw_does_not():
    probs = one_hot("HELLO")
    probs[1] = one_hot("A", p=0.5)[0]  # E misread as A, but not confidently
    probs[1, asl.CLASSES.index("E")] = 0.3
    assert asl.decode_word(probs).text == "HELLO"
    assert asl.decode_word(probs, raw=True).text == "HALLO"
    assert len(asl.decode_word(probs, top_k=2).alternatives) == 2


def test_names_options_float64_lists_and_one_row():
    w = asl.decode_word(one_hot("HI", dtype=np.float64), ["h.jpg", "i.jpg"], beam_width=4, prior_weight=0.1)
    assert w.text == "HI" and [l.file for l in w.letters] == ["h.jpg", "i.jpg"]
    assert asl.decode_word(one_hot("HI").tolist()).text == "HI"
    assert asl.decode_word(one_hot("A")[0]).text == "A"
    assert asl.decode_word(one_hot("LLL"), collapse_repeats=True, raw=True).text == "L"
    # Column slices are strided: read in logical order.
    wide = np.zeros((2, 58), dtype=np.float32)
    wide[:, ::2] = one_hot("HI")
    assert asl.decode_word(wide[:, ::2]).text == "HI"
    empty = asl.decode_word(np.zeros((0, 29), dtype=np.float32))
    assert empty.text == "" and empty.confidence == 0


def test_custom_lexicon(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("HALLO\t1000\n")
    probs = one_hot("HELLO")
    probs[1, asl.CLASSES.index("E")] = 0.5
    probs[1, asl.CLASSES.index("A")] = 0.45
    assert asl.decode_word(probs, raw=True).text == "HELLO"
    assert asl.decode_word(probs, lexicon=words).text == "HALLO"  # the only word it knows
    with pytest.raises(asl.WordError, match="cannot read word list"):
        asl.decode_word(probs, lexicon=tmp_path / "missing.txt")


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.zeros((3, 28), dtype=np.float32), ValueError, r"shape \(N, 29\)"),
        (np.zeros((2, 3, 29), dtype=np.float32), ValueError, "shape"),
        (np.zeros((3, 29), dtype=np.int32), TypeError, "float32 or float64"),
        (np.array([["a"] * 29]), TypeError, "float32 or float64"),
    ],
)
def test_rejects_wrong_arrays(bad, error, match):
    with pytest.raises(error, match=match):
        asl.decode_word(bad)


def test_rejects_bad_values_and_names():
    probs = one_hot("HI")
    with pytest.raises(ValueError, match="1 names for 2 rows"):
        asl.decode_word(probs, ["one"])
    bad = probs.copy()
    bad[0, 0] = -0.5
    with pytest.raises(asl.WordError, match="negative"):
        asl.decode_word(bad)
    bad[0, 0] = np.nan
    with pytest.raises(asl.WordError, match="not a finite number"):
        asl.decode_word(bad)
    with pytest.raises(ValueError, match="beam_width"):
        asl.decode_word(probs, beam_width=0)


def test_signatures_and_docstrings_for_jupyter():
    import inspect

    for f in [asl.collect, asl.status, asl.prep, asl.train, asl.hpo, asl.register, asl.pipeline]:
        assert inspect.signature(f).parameters["dataset"].default == asl.DEFAULT_DATASET, f
        assert len(f.__doc__) > 200, f
    assert "path_or_alias" in str(inspect.signature(asl.Classifier.load))
    assert asl.Classifier.predict.__doc__ and asl.decode_word.__doc__ and asl.Run.__doc__
    assert issubclass(asl.DatasetError, asl.AslError) and issubclass(asl.AslError, Exception)
    for e in [asl.PrepError, asl.ModelError, asl.TrainError, asl.HpoError, asl.TrackingError, asl.WordError]:
        assert issubclass(e, asl.AslError) and e.__module__ == "asl"
