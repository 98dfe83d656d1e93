"""asl.optuna_worker: three worker processes on one Optuna study in a real PostgreSQL server.

The server is Debian's PostgreSQL, started for this module (scripts/pg_scratch.py: ``initdb`` +
``pg_ctl`` in a temporary folder on a free port); under CI=true a missing PostgreSQL, Optuna
or psycopg fails.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import asl
from conftest import DATASET, QUICK_HANDSHAPE, REPO, need

sys.path.insert(0, str(REPO / "scripts"))
import pg_scratch  # noqa: E402

STUDY = "letters"
TRIALS = 8
# Successive halving (reduction 3) checks trials at epochs 1 and 3. After one epoch nearly every
# trial still reads at chance (1/29) and ties, and tied trials are all promoted; by epoch 3 a
# trial that learns is far ahead of one that does not, so 4 epochs give the pruner a check it can
# decide (with 3, epoch 3 was the last and never checked: 1 run in 5 here pruned nothing).
EPOCHS = 4
# lr down to 1e-5 learns nothing in these epochs: the pruner has something to prune.
SPACE = {"lr": {"type": "log_uniform", "low": 1e-5, "high": 2e-2}, "dropout": {"type": "uniform", "low": 0.0, "high": 0.3}}
BASE = {"batch_size": 32, "seed": 1, "model": {"width": 8, "depth": 3, "input_size": 32}, "handshape": QUICK_HANDSHAPE}


@pytest.fixture(scope="module")
def postgres():
    """A scratch PostgreSQL server with an empty database ``optuna``; yields its URL."""
    need(pg_scratch.bin_dir() is not None, "PostgreSQL (Debian's postgresql package) is not installed")
    try:
        import optuna  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as e:
        need(False, f"the optuna extra is not installed: {e}")
    with pg_scratch.server(databases=["optuna"]) as url:
        yield f"{url}/optuna"


@pytest.fixture(scope="module")
def optuna_home(tmp_path_factory, synthetic_zip) -> Path:
    """Its own state root (the registry starts empty), data collected and prepared once, so
    the workers do not all build the same cache."""
    home = tmp_path_factory.mktemp("optuna-home")
    asl.collect(DATASET, from_zip=synthetic_zip, home=home)
    asl.prep(DATASET, size=32, home=home)
    return home


def worker_args(storage: str, home: Path, space: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "asl.optuna_worker", "--storage", storage, "--study", STUDY,
        "--trials", str(TRIALS), "--epochs", str(EPOCHS), "--space", str(space),
        "--base", json.dumps(BASE), "--startup-trials", "3", "--seed", "7",
        "--dataset", DATASET, "--home", str(home), *extra,
    ]  # fmt: skip


def admin_args(storage: str, action: str, home: Path) -> list[str]:
    """``show`` or ``register`` on the study."""
    return [sys.executable, "-m", "asl.optuna_worker", action, "--storage", storage, "--study", STUDY, "--dataset", DATASET, "--home", str(home), "--json"]


@pytest.fixture(scope="module")
def searched(postgres, optuna_home, tmp_path_factory):
    """Three workers (standing in for three hosts, one training thread each) on one study."""
    space = tmp_path_factory.mktemp("space") / "space.json"
    space.write_text(json.dumps(SPACE))
    env = {**os.environ, "RAYON_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    workers = [
        subprocess.Popen(worker_args(postgres, optuna_home, space, "--json"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs, errs = [], []
    for w in workers:
        out, err = w.communicate(timeout=900)
        assert w.returncode == 0, err
        outs.append(json.loads(out))
        errs.append(err)
    shown = subprocess.run(admin_args(postgres, "show", optuna_home), capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    return {"workers": outs, "stderr": errs, "study": json.loads(shown.stdout), "space": space, "env": env}


def test_three_workers_share_one_study(searched):
    trials = searched["study"]["trials"]
    # The budget counts over every worker; workers starting at once may overshoot by one each.
    assert TRIALS <= len(trials) <= TRIALS + 2
    assert [t["number"] for t in trials] == list(range(len(trials)))
    # A failed trial's reason is in its worker's log (Optuna logs it as a warning).
    failed = [t for t in trials if t["state"] not in ("complete", "pruned")]
    assert not failed, f"{failed}\n" + "\n".join(searched["stderr"])
    # Every trial ran once, on exactly one worker, as its own tracked run.
    ran = [n for w in searched["workers"] for n in w["trials"]]
    assert sorted(ran) == [t["number"] for t in trials]
    assert len({w["worker"] for w in searched["workers"]}) == 3
    assert sum(1 for w in searched["workers"] if w["trials"]) >= 2
    run_ids = [t["run_id"] for t in trials]
    assert all(run_ids) and len(set(run_ids)) == len(run_ids)
    assert {t["worker"] for t in trials} <= {w["worker"] for w in searched["workers"]}


def test_pruned_trials_stop_early(searched, optuna_home):
    trials = searched["study"]["trials"]
    pruned = [t for t in trials if t["state"] == "pruned"]
    complete = [t for t in trials if t["state"] == "complete"]
    assert pruned and complete
    assert all(t["epochs_trained"] < EPOCHS for t in pruned)
    assert all(t["epochs_trained"] == EPOCHS and 0.0 <= t["value"] <= 1.0 for t in complete)
    # The tracked runs tell the same story: a pruned trial logged fewer epochs.
    runs = {r["run_id"]: r for r in asl.runs("asl-optuna", study=STUDY, limit=50, home=optuna_home)["runs"]}
    assert set(runs) == {t["run_id"] for t in trials}
    for t in trials:
        tags = runs[t["run_id"]]["tags"]
        assert tags["asl.trial"] == str(t["number"]) and tags["asl.search"] == "optuna"


def test_best_trial_registers(searched, postgres, optuna_home):
    best = searched["study"]["best"]
    assert best["value"] == max(t["value"] for t in searched["study"]["trials"] if t["state"] == "complete")
    out = subprocess.run(admin_args(postgres, "register", optuna_home), capture_output=True, text=True, env=searched["env"])
    assert out.returncode == 0, out.stderr
    registered = json.loads(out.stdout)
    assert registered["trial"] == best["number"] and registered["version"] == 1 and registered["promoted"]
    versions = asl.models(home=optuna_home)["versions"]
    assert [(v["version"], v["run_id"]) for v in versions] == [(1, best["run_id"])]
    assert "champion" in versions[0]["aliases"]


def test_a_worker_with_another_search_is_refused(searched, postgres, optuna_home):
    args = worker_args(postgres, optuna_home, searched["space"])
    args[args.index("--epochs") + 1] = str(EPOCHS + 1)
    out = subprocess.run(args, capture_output=True, text=True, env=searched["env"])
    assert out.returncode == 1 and "another search (epochs differ)" in out.stderr
