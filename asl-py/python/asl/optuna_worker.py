"""A distributed hyper-parameter search: one Optuna study, any number of worker processes.

Every worker (on any host that has the data and ``pip install 'asl-fingerspelling[optuna]'``)
joins the same study in a shared Optuna storage, usually PostgreSQL, and trains the trials it
draws through :func:`asl.train` — the configuration ``asl hpo`` would train for the same
parameters (:func:`asl.trial_config`), sampled from the same search-space file
(:func:`asl.search_space`). Each epoch's validation accuracy is reported to Optuna's pruner
(successive halving by default, as ``asl hpo``'s ASHA), and a pruned trial stops training at
once. Trials are tracked runs like any training: in MLflow when ``MLFLOW_TRACKING_URI`` is set,
else in ``$ASL_HOME/tracking``.

Start a worker per core or host::

    python -m asl.optuna_worker --storage postgresql://user:pw@db/optuna --study letters \\
        --trials 60 --epochs 9 --space space.json --dataset grassknoted/asl-alphabet

and, when they are done, register the best trial's model (champion if it beats the champion)::

    python -m asl.optuna_worker register --storage postgresql://… --study letters

The study remembers how it was started (space, epochs, base configuration, pruner, sampler):
a worker started with anything else is refused, so one study never mixes two searches. A
worker that dies leaves its trial RUNNING; the others see its heartbeat stop and run the trial
again under a new number (from its checkpoint when it lands on the same host). The trial budget
(``--trials``) counts the study's trials over all workers; as with Optuna's own
``MaxTrialsCallback``, workers that start at the same moment can overshoot it by at most one
trial each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import asl

#: Tracking experiment of the trials (``asl runs --experiment asl-optuna --study NAME``).
EXPERIMENT = "asl-optuna"
#: Study user attribute holding how the study was started.
SEARCH_ATTR = "asl.search"
PRUNERS = ("successive-halving", "hyperband", "median", "none")


def _optuna():
    try:
        import optuna
    except ImportError as e:  # the extra is optional: say how to get it
        raise ImportError(
            "asl.optuna_worker needs Optuna and a database driver: "
            "pip install 'asl-fingerspelling[optuna]' (optuna, psycopg)"
        ) from e
    # Heartbeats and the retry callback are marked experimental; they are what we rely on.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def storage_url(url: str) -> str:
    """SQLAlchemy's URL for ``url``: a plain ``postgresql://`` URL uses psycopg 3 when
    psycopg2 (SQLAlchemy's default driver) is not installed."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact(url: str) -> str:
    """``url`` without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    auth, at, host = rest.rpartition("@")
    user = auth.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in auth else url


def _retry_callback():
    """Queues a failed trial again (at most twice), keeping its reported epochs, so that the
    worker that takes it resumes from its checkpoint."""
    return _optuna().storages.RetryHeartbeatStaleTrialCallback(max_retry=2, inherit_intermediate_values=True)


def open_storage(url: str, heartbeat: float = 30.0):
    """An RDB storage with heartbeats: a worker that dies has its trial failed and retried
    (intermediate values kept) by whichever worker looks next."""
    optuna = _optuna()
    if not url.startswith(("postgresql", "postgres", "mysql", "sqlite", "oracle", "mssql")):
        raise ValueError(f"storage must be a database URL (postgresql://…), got {redact(url)!r}")
    import sqlalchemy.exc

    for attempt in range(6):
        try:
            return optuna.storages.RDBStorage(
                storage_url(url),
                heartbeat_interval=int(heartbeat),
                grace_period=int(heartbeat * 4),
                heartbeat_stale_trial_callback=_retry_callback(),
                engine_kwargs={"pool_pre_ping": True},
            )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Workers starting together on an empty database race to create Optuna's tables
            # (PostgreSQL fails all but one); once one has made them, opening succeeds.
            if attempt == 5:
                raise
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def make_pruner(kind: str, epochs: int, eta: int):
    """Optuna's pruner of that name, with epochs as its resource."""
    optuna = _optuna()
    if kind == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=eta)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=eta)
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=eta, n_warmup_steps=0)
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {kind!r}; one of {', '.join(PRUNERS)}")


def make_sampler(kind: str, startup_trials: int, seed: int | None):
    """TPE with the constant liar (workers running at once do not all draw the same point),
    or random. Every worker needs its own seed, or they would draw the same points."""
    optuna = _optuna()
    if kind == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=startup_trials, seed=seed, constant_liar=True)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown sampler {kind!r}; tpe or random")


def suggest(trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The trial's parameters, drawn from ``asl.search_space``'s priors."""
    params = {}
    for name, prior in space.items():
        kind = prior["type"]
        if kind == "log_uniform":
            params[name] = trial.suggest_float(name, prior["low"], prior["high"], log=True)
        elif kind == "uniform":
            params[name] = trial.suggest_float(name, prior["low"], prior["high"])
        elif kind == "int":
            params[name] = trial.suggest_int(name, prior["low"], prior["high"], log=prior.get("log", False))
        elif kind == "categorical":
            params[name] = trial.suggest_categorical(name, prior["choices"])
        else:
            raise ValueError(f"{name}: unknown prior type {kind!r}")
    return params


def _search(args) -> dict[str, Any]:
    """What defines the study: a worker with anything else must not join it."""
    return {
        "space": asl.search_space(args.space),
        "epochs": args.epochs,
        "base": args.base or {},
        "pruner": args.pruner,
        "eta": args.eta,
        "sampler": args.sampler,
        "startup_trials": args.startup_trials,
    }


def load_study(args, search: dict[str, Any], storage):
    """Create the study, or join it after checking it was started with the same search."""
    optuna = _optuna()
    seed = None if args.seed is None else args.seed + os.getpid()
    study = optuna.create_study(
        study_name=args.study,
        storage=storage,
        sampler=make_sampler(search["sampler"], search["startup_trials"], seed),
        pruner=make_pruner(search["pruner"], search["epochs"], search["eta"]),
        direction="maximize",
        load_if_exists=True,
    )
    started = study.user_attrs.get(SEARCH_ATTR)
    if started is None:
        study.set_user_attr(SEARCH_ATTR, search)
        started = search
    if json.loads(json.dumps(started)) != json.loads(json.dumps(search)):
        changed = sorted(k for k in set(started) | set(search) if started.get(k) != search.get(k))
        raise ValueError(
            f"study {args.study!r} was started with another search ({', '.join(changed)} differ); "
            "use the same arguments or another --study"
        )
    return study


def _budget_reached(study, trials: int) -> bool:
    """True when the study holds ``trials`` trials (a failed trial that is being retried
    counts once) and none waits to be run."""
    optuna = _optuna()
    all_trials = study.get_trials(deepcopy=False)
    if any(t.state == optuna.trial.TrialState.WAITING for t in all_trials):
        return False
    retried = {optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t) for t in all_trials}
    counted = [t for t in all_trials if t.number not in retried]
    return len(counted) >= trials


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def make_objective(args, study_id: int, search: dict[str, Any], say: Callable[[str], None], ran: list[int]):
    """Train one trial; report each epoch to the pruner and stop when it says so. The numbers
    of the trials it starts go to ``ran``."""
    optuna = _optuna()
    worker = worker_id()
    # Run and model folders are named after the study's id in its storage too: a new study
    # of the same name never resumes an old one's checkpoints.
    prefix = f"{args.study}-{study_id}"

    def objective(trial) -> float:
        params = suggest(trial, search["space"])
        config = asl.trial_config(params, base=search["base"], epochs=search["epochs"])
        # A retried trial inherits the user attributes of the trial it repeats: it resumes
        # that trial's run folder.
        number = trial.user_attrs.get("folder_trial", trial.number)
        trial.set_user_attr("folder_trial", number)
        trial.set_user_attr("worker", worker)
        ran.append(trial.number)
        say(f"trial {trial.number}: start {json.dumps(params, sort_keys=True)}")
        started, cpu = time.monotonic(), time.process_time()

        def on_epoch(m: dict[str, float]) -> bool:
            epoch = int(m["epoch"])
            trial.report(m["val_accuracy"], epoch)
            # After the last epoch there is nothing left to save: the trial is complete.
            return epoch >= search["epochs"] or not trial.should_prune()

        run = asl.train(
            config,
            dataset=args.dataset,
            data=args.data,
            val_fraction=args.val_fraction,
            split_seed=args.split_seed,
            name=f"{prefix}-trial-{number}",
            home=args.home,
            on_epoch=on_epoch,
            experiment=args.experiment,
            tags={
                "asl.kind": "hpo-trial",
                "asl.search": "optuna",
                "asl.study": args.study,
                "asl.trial": str(trial.number),
                "asl.worker": worker,
            },
        )
        epochs = max((int(h["epoch"]) for h in run.history), default=run.resumed_from_epoch)
        for key, value in {
            "run_id": run.tracking_run_id,
            "model_dir": str(run.model_dir),
            "epochs_trained": epochs,
            "stop": run.stop,
            "seconds": round(time.monotonic() - started, 3),
            # CPU time of this worker process for the trial (every training thread).
            "cpu_seconds": round(time.process_time() - cpu, 3),
            "latency_ms": run.latency_ms,
        }.items():
            trial.set_user_attr(key, value)
        if run.stop == "callback":
            say(f"trial {trial.number}: pruned after epoch {epochs}")
            raise optuna.TrialPruned()
        say(f"trial {trial.number}: complete, accuracy {run.accuracy:.4f} ({epochs} epochs)")
        return run.accuracy

    return objective


def run_worker(args, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Draw and train trials until the study holds ``args.trials`` of them (or the worker's
    time budget is spent). Returns what this worker did."""
    optuna = _optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = _search(args)
    storage = open_storage(args.storage)
    study = load_study(args, search, storage)
    ran: list[int] = []
    objective = make_objective(args, storage.get_study_id_from_name(args.study), search, say, ran)
    deadline = None if args.time_budget is None else time.monotonic() + args.time_budget
    say(f"worker {worker_id()} on study {args.study} ({redact(args.storage)})")
    while not _budget_reached(study, args.trials):
        if deadline is not None and time.monotonic() >= deadline:
            say("time budget spent")
            break
        try:
            # A configuration the trainer refuses fails its trial, not the worker.
            study.optimize(objective, n_trials=1, catch=(asl.AslError,), gc_after_trial=False)
        except KeyboardInterrupt:
            # Optuna failed the trial; queue it again so a worker resumes it (its checkpoint
            # is in this host's run folder).
            retry = _retry_callback()
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)):
                if ran and t.number == ran[-1]:
                    retry(study, t)
            raise
    return {"study": args.study, "worker": worker_id(), "trials": ran}


def summary(study) -> dict[str, Any]:
    """The study's trials and its best complete trial, as plain data."""
    trials = [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "params": t.params,
            **{k: t.user_attrs.get(k) for k in ("run_id", "worker", "epochs_trained", "seconds", "cpu_seconds")},
            "started": t.datetime_start.isoformat() if t.datetime_start else None,
            "finished": t.datetime_complete.isoformat() if t.datetime_complete else None,
        }
        for t in study.get_trials(deepcopy=False)
    ]
    complete = [t for t in trials if t["state"] == "complete"]
    best = max(complete, key=lambda t: t["value"]) if complete else None
    return {"study": study.study_name, "trials": trials, "best": best}


def register_best(args) -> dict[str, Any]:
    """Register the best complete trial's model (``asl.register``: champion if it beats the
    champion on the held-out split)."""
    optuna = _optuna()
    study = optuna.load_study(study_name=args.study, storage=open_storage(args.storage))
    found = summary(study)
    best = found["best"]
    if best is None:
        raise ValueError(f"study {args.study!r} has no complete trial to register")
    search = study.user_attrs.get(SEARCH_ATTR, {})
    config = asl.trial_config(best["params"], base=search.get("base") or None, epochs=search.get("epochs", 9))
    decision = asl.register(
        best["run_id"],
        dataset=args.dataset,
        data=args.data,
        size=config["model"]["input_size"],
        val_fraction=args.val_fraction,
        split_seed=args.split_seed,
        home=args.home,
    )
    return {"study": args.study, "trial": best["number"], "run_id": best["run_id"], **decision}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m asl.optuna_worker",
        description="Run trials of a distributed Optuna study (default), list it (show), or register its best model (register).",
    )
    p.add_argument("action", nargs="?", choices=("work", "show", "register"), default="work")
    p.add_argument("--storage", default=os.environ.get("ASL_OPTUNA_STORAGE"), help="Optuna storage URL, e.g. postgresql://user:pw@host/db (env ASL_OPTUNA_STORAGE)")
    p.add_argument("--study", required=True, help="study name (the same on every worker)")
    p.add_argument("--trials", type=int, default=20, help="trials of the study in all, over every worker")
    p.add_argument("--time-budget", type=float, help="this worker starts no trial after so many seconds")
    p.add_argument("--space", help="search space JSON file (as asl hpo --space); default: asl's space")
    p.add_argument("--epochs", type=int, default=9, help="epochs of a trial that is never pruned")
    p.add_argument("--base", type=json.loads, help="base training configuration as JSON (as asl train --config)")
    p.add_argument("--pruner", choices=PRUNERS, default="successive-halving")
    p.add_argument("--eta", type=int, default=3, help="the pruner's reduction factor")
    p.add_argument("--sampler", choices=("tpe", "random"), default="tpe")
    p.add_argument("--startup-trials", type=int, default=5, help="random trials before TPE takes over")
    p.add_argument("--seed", type=int, help="sampler seed (each worker adds its process id)")
    p.add_argument("--dataset", default=asl.DEFAULT_DATASET, help="collected dataset to train on")
    p.add_argument("--data", help="a folder of class folders to train on instead")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--split-seed", type=int, default=42)
    p.add_argument("--experiment", default=EXPERIMENT, help="tracking experiment of the trials")
    p.add_argument("--home", help="state root (default $ASL_HOME)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.storage:
        print("error: --storage (or ASL_OPTUNA_STORAGE) is required", file=sys.stderr)
        return 2
    if args.home:
        args.home = str(Path(args.home))

    def say(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    try:
        if args.action == "work":
            out = run_worker(args, say)
        elif args.action == "register":
            out = register_best(args)
        else:
            out = summary(_optuna().load_study(study_name=args.study, storage=open_storage(args.storage)))
    except (ValueError, asl.AslError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the running trial is queued again for the next worker", file=sys.stderr)
        return 130
    print(json.dumps(out, indent=None if args.json else 2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
