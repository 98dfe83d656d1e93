"""Shared fixtures: one state root, one small synthetic dataset, one briefly trained model.

Everything runs on the embedded synthetic dataset (asl.synth), so the tests need no
download. Under CI=true a missing prerequisite (the CLI binary, PIL) fails instead of
skipping.
"""

import os
from pathlib import Path

import pytest

import asl

CI = os.environ.get("CI") == "true"
REPO = Path(__file__).resolve().parents[2]
DATASET = "asl/synthetic"
# The hand path is still built (detection, hand cache, handshape model, then kept where it
# reads the validation photos as well as the CNN), but its MLP trains on the test's own hands
# and a few prior hands for a few epochs instead of the default ~50,000 rows for 80 epochs
# (about a minute on two cores, paid again by every fresh cache and every worker that finds
# none trained).
QUICK_HANDSHAPE = {"hidden": [32], "epochs": 3, "augmented_copies": 1, "prior_samples": 30, "other_signers_repeat": 0}
# A small, fast network: a few seconds an epoch on two cores.
TINY = {"epochs": 3, "batch_size": 32, "seed": 1, "model": {"width": 8, "depth": 3, "input_size": 32}, "handshape": QUICK_HANDSHAPE}


def need(condition: bool, why: str) -> None:
    """Skip a test whose prerequisite is missing; under CI=true fail instead."""
    if not condition:
        if CI:
            pytest.fail(f"missing under CI: {why}")
        pytest.skip(why)


def cli_binary() -> Path:
    """The `asl` binary `cargo test --workspace` built ($ASL_BIN, else $CARGO_TARGET_DIR/debug/asl)."""
    if os.environ.get("ASL_BIN"):
        return Path(os.environ["ASL_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "asl"


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("asl-home")


@pytest.fixture(scope="session")
def synthetic_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "synthetic.zip"
    asl.synth(out, per_class=24, size=48, seed=3)
    return out


@pytest.fixture(scope="session")
def collected(home, synthetic_zip) -> dict:
    return asl.collect(DATASET, from_zip=synthetic_zip, home=home)


@pytest.fixture(scope="session")
def train_root(collected) -> Path:
    roots = [p.parent.parent for p in Path(collected["path"]).rglob("A/*.jpg")]
    assert roots, "the synthetic archive has class folders"
    return roots[0]


@pytest.fixture(scope="session")
def trained(home, collected) -> asl.Run:
    return asl.train(TINY, dataset=DATASET, name="tiny", home=home)


@pytest.fixture(scope="session")
def clf(trained) -> asl.Classifier:
    return asl.Classifier.load(trained.model_dir)


@pytest.fixture(scope="session")
def photos(train_root) -> list[Path]:
    """One held-in photo per letter of HELLO, in spelling order."""
    return [sorted((train_root / c).glob("*.jpg"))[k] for k, c in enumerate("HELLO")]
