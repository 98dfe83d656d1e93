"""asl.synth, asl.collect, asl.status, asl.prep, and the progress bridge."""

import zipfile

import pytest

import asl
from conftest import DATASET


class FakeBar:
    """The tqdm surface asl uses: called with total=/desc=, then update(n) and close()."""

    bars: list["FakeBar"] = []

    def __init__(self, total=None, desc=None, **kwargs):
        self.total, self.desc, self.n, self.closed, self.kwargs = total, desc, 0, False, kwargs
        FakeBar.bars.append(self)

    def update(self, n):
        assert n > 0
        self.n += n

    def close(self):
        self.closed = True


def test_synth_is_deterministic_and_in_kaggle_layout(tmp_path):
    a = asl.synth(tmp_path / "a.zip", per_class=2, size=16, seed=7)
    b = asl.synth(tmp_path / "sub" / "b.zip", per_class=2, size=16, seed=7)
    assert a["images"] == b["images"] == 29 * 2 + 29
    assert a["classes"] == 29
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "sub" / "b.zip").read_bytes()
    names = zipfile.ZipFile(tmp_path / "a.zip").namelist()
    assert "asl_alphabet_train/asl_alphabet_train/A/A1.jpg" in names


def test_synth_rejects_bad_arguments(tmp_path):
    with pytest.raises(asl.DatasetError, match="image_size"):
        asl.synth(tmp_path / "x.zip", size=0)
    with pytest.raises(OverflowError):
        asl.synth(tmp_path / "x.zip", per_class=-1)


def test_collect_from_zip_then_again(collected, home, synthetic_zip):
    assert collected["action"] == "imported"
    m = collected["manifest"]
    assert m["dataset"] == DATASET and m["version"] == 1 and m["complete"]
    assert sum(c["images"] for c in m["images_per_class"]) == 29 * 24
    again = asl.collect(DATASET, from_zip=synthetic_zip, home=home)
    assert again["manifest"]["archive_md5"] == m["archive_md5"]


def test_collect_from_dir_and_argument_errors(tmp_path, train_root):
    out = asl.collect("me/folder", from_dir=train_root, version=3, home=tmp_path)
    assert out["action"] == "registered" and out["manifest"]["version"] == 3
    with pytest.raises(ValueError, match="not both"):
        asl.collect("me/x", from_zip=tmp_path / "a.zip", from_dir=tmp_path, home=tmp_path)
    with pytest.raises(asl.DatasetError, match="bad dataset reference"):
        asl.collect("no-slash", from_dir=train_root, home=tmp_path)
    with pytest.raises(asl.DatasetError):
        asl.collect("me/missing", from_zip=tmp_path / "missing.zip", home=tmp_path)


def test_status_offline(collected, home):
    st = asl.status(DATASET, offline=True, home=home)
    assert st["dataset"] == DATASET
    assert [v["version"] for v in st["local_versions"]] == [1]
    assert st["newest_complete"] == 1
    assert st["remote"] is None and st["remote_error"] == "offline"
    assert st["outdated"] is None
    assert asl.status(DATASET, offline=True, version=1, home=home)["outdated"] is False


def test_prep_builds_reuses_and_reports_progress(collected, home):
    first = asl.prep(DATASET, size=24, home=home)
    assert first["built"] and first["image_size"] == 24
    assert first["train"] + first["val"] == 29 * 24 and first["skipped"] == 0
    again = asl.prep(DATASET, size=24, home=home)
    assert not again["built"] and again["hash"] == first["hash"]
    FakeBar.bars.clear()
    forced = asl.prep(DATASET, size=24, force=True, home=home, progress=FakeBar)
    assert forced["built"] and forced["hash"] == first["hash"]
    (bar,) = FakeBar.bars
    assert bar.desc == "prep" and bar.total == 29 * 24 and bar.closed and 0 < bar.n <= bar.total


def test_prep_errors(tmp_path, home):
    with pytest.raises(ValueError, match="val_fraction"):
        asl.prep(DATASET, val_fraction=1.5, home=home)
    with pytest.raises(asl.DatasetError, match="no complete local copy"):
        asl.prep("nobody/nothing", home=tmp_path)
    with pytest.raises(asl.DatasetError, match="no folder of class folders"):
        asl.prep(data=tmp_path, home=tmp_path)
    with pytest.raises(TypeError, match="progress"):
        asl.prep(DATASET, home=home, progress=42)


def test_progress_true_uses_tqdm(collected, home, capsys):
    pytest.importorskip("tqdm")
    out = asl.prep(DATASET, size=24, force=True, home=home, progress=True)
    assert out["built"]
    assert "prep" in capsys.readouterr().err  # tqdm draws on stderr
