"""asl's MLOps flows as Prefect 3 flows: collect, prep, hyper-parameter search, register.

Each flow is a thin Prefect wrapper over one `asl` call (the Python bindings of asl-core), so
Prefect adds scheduling, retries, logging and a UI while asl keeps doing the work: every step
is resumable and skips what is already done, so a retried task continues where it stopped.

Run it locally, without a Prefect server (Prefect 3 starts a temporary one when PREFECT_API_URL
is unset):

    pip install ./asl-py prefect
    python examples/prefect_flow.py                       # a small synthetic dataset
    python examples/prefect_flow.py --from-zip ../shared/data/asl-alphabet-64px.zip --trials 20

With a server (`prefect server start`, PREFECT_API_URL=http://127.0.0.1:4200/api) the same
flows show up in its UI; `train_and_register.serve(cron="0 */6 * * *")` would re-run them
every six hours.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

import asl

DATASET = "asl/synthetic"
# A small search for the example: two architectures of one learning-rate range.
SMALL_SPACE = {
    "lr": {"type": "log_uniform", "low": 1e-3, "high": 1e-2},
    "width": {"type": "categorical", "choices": [8, 12]},
}


@task(retries=2, retry_delay_seconds=5)
def collect_task(dataset: str, from_zip: str | None, home: str) -> dict[str, Any]:
    """Collect the dataset (from Kaggle, or a local archive); a complete copy is kept."""
    out = asl.collect(dataset, from_zip=from_zip, home=home)
    get_run_logger().info("collect: %s version %s (%s)", dataset, out["manifest"]["version"], out["action"])
    return out


@task
def prep_task(dataset: str, size: int, home: str) -> dict[str, Any]:
    """Build (or reuse) the decoded image cache."""
    out = asl.prep(dataset, size=size, home=home)
    get_run_logger().info("prep: %d train + %d held-out images (%s)", out["train"], out["val"], "built" if out["built"] else "reused")
    return out


@task
def hpo_task(dataset: str, size: int, trials: int, epochs: int, space: dict | None, base: dict | None, home: str) -> dict[str, Any]:
    """Run (or continue) the search; every trial is a tracked run."""
    logger = get_run_logger()
    study = asl.hpo(trials=trials, epochs=epochs, startup_trials=min(5, trials), space=space, base=base, dataset=dataset, size=size, home=home, on_event=logger.info)
    if study["best"] is None:
        raise RuntimeError(f"study {study['study']}: no trial completed")
    return study


@task
def register_task(run_id: str, dataset: str, size: int, home: str) -> dict[str, Any]:
    """Register the best run; the promotion guard decides champion or challenger."""
    decision = asl.register(run_id, dataset=dataset, size=size, home=home)
    get_run_logger().info("register: v%d → %s: %s", decision["version"], "champion" if decision["promoted"] else "challenger", decision["reason"])
    return decision


@flow(name="asl-collect")
def collect_flow(dataset: str = asl.DEFAULT_DATASET, from_zip: str | None = None, home: str | None = None) -> dict[str, Any]:
    return collect_task(dataset, from_zip, home)


@flow(name="asl-prep")
def prep_flow(dataset: str = asl.DEFAULT_DATASET, size: int = 32, home: str | None = None) -> dict[str, Any]:
    return prep_task(dataset, size, home)


@flow(name="asl-hpo")
def hpo_flow(dataset: str = asl.DEFAULT_DATASET, size: int = 32, trials: int = 20, epochs: int = 9, space: dict | None = None, base: dict | None = None, home: str | None = None) -> dict[str, Any]:
    return hpo_task(dataset, size, trials, epochs, space, base, home)


@flow(name="asl-register")
def register_flow(run_id: str, dataset: str = asl.DEFAULT_DATASET, size: int = 32, home: str | None = None) -> dict[str, Any]:
    return register_task(run_id, dataset, size, home)


@flow(name="asl-train-and-register")
def train_and_register(
    dataset: str = asl.DEFAULT_DATASET,
    from_zip: str | None = None,
    size: int = 32,
    trials: int = 20,
    epochs: int = 9,
    space: dict | None = None,
    base: dict | None = None,
    home: str | None = None,
) -> dict[str, Any]:
    """collect → prep → hpo → register, as subflows (each visible on its own in the UI)."""
    collect_flow(dataset, from_zip, home)
    prep_flow(dataset, size, home)
    study = hpo_flow(dataset, size, trials, epochs, space, base, home)
    decision = register_flow(study["best"]["run_id"], dataset, size, home)
    return {"study": study["study"], "best_trial": study["best"]["number"], "best_accuracy": study["best"]["value"], **decision}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", help="asl state root (default: a new temporary folder)")
    p.add_argument("--from-zip", help="an archive in Kaggle's layout (default: a small synthetic one)")
    p.add_argument("--dataset", default=DATASET)
    p.add_argument("--trials", type=int, default=2)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--size", type=int, default=32)
    args = p.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="asl-prefect-")
    from_zip = args.from_zip
    small = from_zip is None
    if small:
        from_zip = str(Path(home) / "synthetic.zip")
        asl.synth(from_zip, per_class=40, size=48, seed=1)
    result = train_and_register(
        dataset=args.dataset,
        from_zip=from_zip,
        size=args.size,
        trials=args.trials,
        epochs=args.epochs,
        space=SMALL_SPACE if small else None,
        base={"batch_size": 32} if small else None,
        home=home,
    )
    print(json.dumps(result, indent=2))
    champion = asl.Classifier.load("champion", home=home)
    print(f"champion: {champion!r}")
    return 0 if result["version"] >= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
