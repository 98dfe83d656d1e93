"""asl.evaluate and asl.monitor_report: the same answers as `asl eval` and `asl monitor report`."""

import json
import shutil
import subprocess

import pytest

import asl
from conftest import cli_binary, need


@pytest.fixture(scope="module")
def by_source_folder(train_root, tmp_path_factory):
    """Photos in asl-ood-dev's layout, `<LETTER>/<source>__<file>`: two sources, three letters."""
    root = tmp_path_factory.mktemp("by-source")
    for letter in "ABC":
        (root / letter).mkdir()
        for k, photo in enumerate(sorted((train_root / letter).glob("*.jpg"))[:4]):
            source = "left" if k % 2 else "right"
            shutil.copyfile(photo, root / letter / f"{source}__{photo.name}")
    return root


def test_evaluate_a_folder_by_source_as_the_cli_does(trained, home, by_source_folder):
    out = asl.evaluate(str(trained.model_dir), data=by_source_folder, by_source=True, home=home)
    assert out["model"] == str(trained.model_dir)
    report, sources = out["report"], out["by_source"]
    assert report["images"] == 12 and 0.0 <= report["accuracy"] <= 1.0
    per = {s["source"]: s for s in sources["sources"]}
    assert set(per) == {"left", "right"} and all(s["images"] == 6 for s in per.values())
    assert sources["mean_accuracy_over_sources"] == pytest.approx(sum(s["accuracy"] for s in per.values()) / 2)

    binary = cli_binary()
    need(binary.is_file(), f"{binary} is missing (run `cargo test --workspace` first or set ASL_BIN)")
    cmd = [str(binary), "--home", str(home), "--json", "eval", "--model", str(trained.model_dir),
           "--data", str(by_source_folder), "--by-source"]
    cli = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    cli = json.loads(cli.stdout)
    assert cli["report"]["accuracy"] == report["accuracy"]
    assert cli["by_source"]["sources"] == sources["sources"]


def test_evaluate_the_held_out_split_and_errors(trained, home):
    held = asl.evaluate(str(trained.model_dir), home=home)
    assert held["by_source"] is None and held["report"]["images"] > 0
    assert held["report"]["accuracy"] == pytest.approx(trained.accuracy, abs=1e-6)
    with pytest.raises(asl.AslError):
        asl.evaluate("no-such-model", home=home)


def test_monitor_report_writes_html_and_names_its_errors(trained, home, tmp_path):
    out = tmp_path / "drift.html"
    r = asl.monitor_report(out, since="2d", log=tmp_path / "empty.sqlite", model=str(trained.model_dir), home=home)
    assert r["predictions"] == 0 and r["out"] == str(out) and r["to"] - r["from"] == 2 * 86400
    assert "asl drift report" in out.read_text()
    with pytest.raises(ValueError, match="unit"):
        asl.monitor_report(out, since="7 fortnights", model=str(trained.model_dir), home=home)
    # A model without a monitoring reference is named as the reason.
    bare = tmp_path / "bare"
    shutil.copytree(trained.model_dir, bare)
    card = json.loads((bare / "model.json").read_text())
    card.get("extra", {}).pop("monitoring_reference", None)
    (bare / "model.json").write_text(json.dumps(card))
    with pytest.raises(asl.ModelError, match="no monitoring reference"):
        asl.monitor_report(out, model=str(bare), home=home)
