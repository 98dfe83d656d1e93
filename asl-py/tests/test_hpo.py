"""asl.hpo, asl.register, asl.models, asl.pipeline, and Classifier.load of a registry alias."""

import json
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import asl
from conftest import DATASET, QUICK_HANDSHAPE

SPACE = {"lr": {"type": "log_uniform", "low": 1e-3, "high": 1e-2}, "width": {"type": "categorical", "choices": [8]}}
BASE = {"batch_size": 32, "seed": 1, "model": {"width": 8, "depth": 3}, "handshape": QUICK_HANDSHAPE}
SEARCH = dict(trials=2, epochs=2, startup_trials=1, prune=False, space=SPACE, base=BASE, seed=3)


@pytest.fixture(scope="module")
def study(home, collected):
    lines = []
    out = asl.hpo(**SEARCH, dataset=DATASET, home=home, on_event=lines.append)
    out["lines"] = lines
    return out


def test_hpo_runs_a_small_study(study, home):
    assert len(study["trials"]) == 2
    assert all(t["state"] == "complete" for t in study["trials"])
    assert all(len(t["intermediate"]) == 2 for t in study["trials"])
    best = study["best"]
    assert best["run_id"] and Path(best["model_dir"], "model.json").is_file()
    assert best["value"] == max(t["value"] for t in study["trials"])
    assert Path(study["dir"], "study.json").is_file() and Path(study["dir"]).parent == Path(home) / "hpo"
    assert study["lines"][0].startswith(f"study {study['study']}")
    assert any("trial 1: complete" in line for line in study["lines"])
    # The same call again finds the study done and runs nothing.
    again = asl.hpo(**SEARCH, dataset=DATASET, home=home, on_event=lambda line: None)
    assert again["study"] == study["study"] and len(again["trials"]) == 2


def test_register_promote_and_load_the_champion(study, home):
    assert asl.models(home=home)["versions"] == []
    first = asl.register(study["best"]["run_id"], dataset=DATASET, home=home)
    assert first["version"] == 1 and first["promoted"] and first["champion_version"] is None
    other = next(t for t in study["trials"] if t["run_id"] != study["best"]["run_id"])
    second = asl.register(other["run_id"], dataset=DATASET, home=home)
    assert second["version"] == 2 and second["champion_version"] == 1
    assert second["promoted"] == (second["candidate_accuracy"] > second["champion_accuracy"])
    listed = asl.models(home=home)
    assert listed["model"] == "asl-fingerspelling" and [v["version"] for v in listed["versions"]] == [1, 2]
    champion = next(v["version"] for v in listed["versions"] if "champion" in v["aliases"])
    clf = asl.Classifier.load("champion", home=home)
    assert clf.path.parent.name == "asl-fingerspelling" and clf.path.name == str(champion)
    by_number = asl.Classifier.load(f"v{champion}", home=home)
    x = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    assert np.array_equal(clf.predict_with_proba(x)[0], by_number.predict_with_proba(x)[0])
    with pytest.raises(asl.TrackingError, match="not found"):
        asl.register("no-such-run", dataset=DATASET, home=home)
    # By hand: promote the other version, roll back to this champion.
    other_version = 2 if champion == 1 else 1
    moved = asl.promote(other_version, home=home)
    assert moved == {"champion": other_version, "previous": champion}
    assert asl.rollback(home=home) == {"champion": champion}
    with pytest.raises(asl.TrackingError):
        asl.promote(99, home=home)


def test_runs_lists_a_study_best_first(study, home):
    out = asl.runs(study=study["study"], home=home)
    assert "local store" in out["store"]
    accs = [r["metrics"]["final_val_accuracy"] for r in out["runs"]]
    assert len(accs) == 2 and accs == sorted(accs, reverse=True)
    assert {r["run_id"] for r in out["runs"]} == {t["run_id"] for t in study["trials"]}
    assert asl.runs(study="no-such-study", home=home)["runs"] == []


def test_pipeline_skips_what_is_done(study, home, synthetic_zip):
    lines = []
    out = asl.pipeline(from_zip=synthetic_zip, dataset=DATASET, **SEARCH, home=home, on_event=lines.append)
    steps = {s["step"]: s["action"] for s in out["steps"]}
    assert steps == {"collect": "skipped", "prep": "skipped", "hpo": "skipped", "register": "skipped"}, lines
    assert out["study"] == study["study"] and out["registered_version"] == 1
    # The guard ran when version 1 was registered; a skipped register step leaves the aliases.
    assert out["promotion"] is None


def test_search_argument_errors(home, collected):
    with pytest.raises(asl.HpoError, match="unknown parameter"):
        asl.hpo(space={"learning_rate": {"type": "uniform", "low": 0, "high": 1}}, dataset=DATASET, home=home)
    with pytest.raises(ValueError, match="invalid search space"):
        asl.hpo(space={"lr": {"type": "gaussian"}}, dataset=DATASET, home=home)
    with pytest.raises(ValueError, match="sampler"):
        asl.hpo(sampler="grid", dataset=DATASET, home=home)
    with pytest.raises(TypeError, match="space must be"):
        asl.hpo(space=3, dataset=DATASET, home=home)
    with pytest.raises(asl.HpoError):
        asl.hpo(space="/nonexistent/space.json", dataset=DATASET, home=home)
    with pytest.raises(asl.DatasetError):
        asl.pipeline(from_zip="/nonexistent.zip", dataset=DATASET, home=home, on_event=lambda line: None)


def test_ctrl_c_stops_a_search_and_the_study_continues(home, collected):
    """SIGINT during a trial: KeyboardInterrupt, the study saved with the trial to resume."""
    main = threading.main_thread().ident
    sent = {}

    def on_event(line):
        if "epoch 1 val accuracy" in line and not sent:
            sent["at"] = time.monotonic()
            signal.pthread_kill(main, signal.SIGINT)

    args = dict(trials=1, epochs=200, prune=False, space=SPACE, base=BASE, study="interrupted", dataset=DATASET, home=home)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            asl.hpo(**args, on_event=on_event)
        stopped_after = time.monotonic() - sent["at"]
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stopped_after < 10, f"KeyboardInterrupt took {stopped_after:.1f}s"
    study_dir = Path(home) / "hpo" / "interrupted"
    saved = json.loads((study_dir / "study.json").read_text())
    (trial,) = saved["trials"]
    assert trial["state"] == "running" and 1 <= len(trial["intermediate"]) <= 3
    tracked_run = (study_dir / "trials" / "0" / "run_id").read_text().strip()
    # Continue: the interrupted trial resumes from its checkpoint (a time budget ends it soon).
    done = asl.hpo(**args, time_budget=saved["elapsed_secs"] + 2, on_event=lambda line: None)
    (trial,) = done["trials"]
    assert trial["state"] == "complete" and len(trial["intermediate"]) > 1
    assert trial["run_id"] == tracked_run  # the resumed trial logged into the run it started
