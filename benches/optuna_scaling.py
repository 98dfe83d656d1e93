"""How a distributed search scales: trials per hour of 1, 2 and 3 Optuna workers on one study.

Each worker is held to one core (``taskset``) and one training thread (``RAYON_NUM_THREADS=1``)
and trains trials of the same cost (fixed epochs and network, no pruning: only the learning
rate and dropout vary), so the throughput of N workers compares with N hosts of one core.
PostgreSQL is a scratch server (scripts/pg_scratch.py). Prints a table and, with --json, the
numbers.

    .venv-py/bin/python benches/optuna_scaling.py --data ../shared/data/asl-alphabet-64px.zip

Needs the wheel (``pip install ./asl-py``) with the optuna extra, Debian's PostgreSQL and
``taskset`` (util-linux).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import asl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import pg_scratch  # noqa: E402

SPACE = {"lr": {"type": "log_uniform", "low": 1e-3, "high": 1e-2}, "dropout": {"type": "uniform", "low": 0.0, "high": 0.3}}


def run(storage: str, workers: int, trials_each: int, args, home: Path, space: Path) -> dict:
    study = f"scaling-{workers}"
    cores = os.cpu_count() or 1
    # The hand path is off: its landmarks and handshape model are built once per cache and
    # reused by every trial (`asl prep --detect-hands`), a fixed cost that does not scale with
    # trials; left on, the first trial of each run would detect hands in every photo.
    base = {"batch_size": 64, "seed": 1, "hands": "off", "model": {"width": args.width, "depth": 3, "input_size": args.size}}
    cmd = [
        sys.executable, "-m", "asl.optuna_worker", "--storage", storage, "--study", study,
        "--trials", str(trials_each * workers), "--epochs", str(args.epochs), "--space", str(space),
        "--base", json.dumps(base), "--pruner", "none", "--sampler", "random",
        "--dataset", args.dataset, "--home", str(home), "--json",
    ]  # fmt: skip
    env = {**os.environ, "RAYON_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.monotonic()
    procs = [subprocess.Popen(["taskset", "-c", str(i % cores), *cmd], env=env, stdout=subprocess.PIPE, text=True) for i in range(workers)]
    for p in procs:
        p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a worker failed ({p.returncode})")
    wall = time.monotonic() - started
    shown = subprocess.run([sys.executable, "-m", "asl.optuna_worker", "show", "--storage", storage, "--study", study, "--json"], capture_output=True, text=True, check=True, env=env)
    trials = [t for t in json.loads(shown.stdout)["trials"] if t["state"] == "complete"]
    # Throughput over the span in which trials ran (first start to last finish).
    first = min(datetime.fromisoformat(t["started"]) for t in trials)
    last = max(datetime.fromisoformat(t["finished"]) for t in trials)
    span = (last - first).total_seconds()
    return {
        "workers": workers,
        "trials": len(trials),
        "span_s": round(span, 1),
        "wall_s": round(wall, 1),
        "trials_per_hour": round(len(trials) / span * 3600, 1),
        "trial_s_median": round(statistics.median(t["seconds"] for t in trials), 1),
        "trial_cpu_s_median": round(statistics.median(t["cpu_seconds"] for t in trials), 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, help="a Kaggle-layout zip (default: a synthetic one)")
    p.add_argument("--workers", default="1,2,3")
    p.add_argument("--trials-each", type=int, default=4, help="trials per worker")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="asl-scaling-") as tmp:
        home = Path(tmp) / "home"
        data = args.data
        if data is None:
            data = Path(tmp) / "synthetic.zip"
            asl.synth(data, per_class=100, size=64, seed=1)
        args.dataset = "asl/scaling"
        asl.collect(args.dataset, from_zip=data, home=home)
        asl.prep(args.dataset, size=args.size, home=home)
        space = Path(tmp) / "space.json"
        space.write_text(json.dumps(SPACE))
        rows = []
        with pg_scratch.server(databases=["optuna"]) as url:
            for n in (int(x) for x in args.workers.split(",")):
                rows.append(run(f"{url}/optuna", n, args.trials_each, args, home, space))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    one = rows[0]["trials_per_hour"]
    for r in rows:
        r["speedup"] = round(r["trials_per_hour"] / one, 2)
    if args.json:
        print(json.dumps({"cores": os.cpu_count(), "rows": rows}))
        return
    print(f"{os.cpu_count()} cores; trials of {args.epochs} epochs at {args.size} px, width {args.width}")
    print("workers  trials  span s  trials/h  speed-up  trial s (median)  CPU s/trial (median)")
    for r in rows:
        print(f"{r['workers']:>7}  {r['trials']:>6}  {r['span_s']:>6}  {r['trials_per_hour']:>8}  {r['speedup']:>8}  {r['trial_s_median']:>16}  {r['trial_cpu_s_median']:>20}")


if __name__ == "__main__":
    main()
