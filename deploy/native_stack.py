"""The compose stack's arrangement, started natively (no container engine here) and checked.

PostgreSQL (MLflow's backend store and the replicas' shared prediction log, as
deploy/postgres/init.sql makes them), MLflow (PostgreSQL store, served artifacts), two server
replicas that follow the registry's champion with nothing local but a scratch folder, and
Prometheus scraping both with deploy/prometheus/alerts.yml loaded. Then: both replicas answer
and are scraped, the champion moves under load and both follow it without a failed request,
and one drift report reads both replicas' predictions.

    .venv-py/bin/python deploy/native_stack.py --server target/debug/asl-http

Needs Debian's postgresql and prometheus, and .venv-py (the wheel, MLflow, psycopg);
scripts/test.sh runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

import asl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import pg_scratch  # noqa: E402

# Small models: the hand path is still built, its MLP trained on the data's own hands and a
# few prior hands instead of the default ~50,000 rows for 80 epochs (about a minute).
TINY = {
    "epochs": 2,
    "batch_size": 32,
    "model": {"width": 8, "depth": 3, "input_size": 32},
    "handshape": {"hidden": [32], "epochs": 3, "augmented_copies": 1, "prior_samples": 30, "other_signers_repeat": 0},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def wait_for(what: str, check, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"native stack: {what} not within {timeout:.0f} s")
        time.sleep(0.3)


@contextlib.contextmanager
def process(cmd: list[str], log: Path, env: dict | None = None):
    with open(log, "wb") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            yield p
        finally:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def predict(base: str, photo: bytes, request_id: str) -> int:
    boundary = "aslboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + photo + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        f"{base}/predict",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "x-request-id": request_id},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def served_name(base: str) -> str:
    status, body = get(f"{base}/v1/model")
    return json.loads(body).get("name", "") if status == 200 else ""


def prometheus_query(base: str, query: str) -> list:
    status, body = get(f"{base}/api/v1/query?query={urllib.parse.quote(query)}")
    return json.loads(body)["data"]["result"] if status == 200 else []


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", type=Path, required=True, help="the asl-http binary")
    p.add_argument("--mlflow", default=str(Path(sys.executable).with_name("mlflow")))
    p.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="asl-native-stack-"))
    started = time.monotonic()
    try:
        with pg_scratch.server(databases=["mlflow", "asl_log"]) as pg:
            run_stack(args, work, pg)
    except BaseException:
        for log in sorted(work.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"native stack: all checks passed in {time.monotonic() - started:.0f} s")


def run_stack(args, work: Path, pg: str) -> None:
    # MLflow on PostgreSQL, artifacts served from a folder (compose: a volume).
    mlflow_port = free_port()
    mlflow_url = f"http://127.0.0.1:{mlflow_port}"
    store = pg.replace("postgresql://", "postgresql+psycopg://") + "/mlflow"
    mlflow_cmd = [args.mlflow, "server", "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1",
                  "--backend-store-uri", store, "--artifacts-destination", str(work / "mlartifacts"), "--serve-artifacts"]  # fmt: skip
    with process(mlflow_cmd, work / "mlflow.log"):
        wait_for("MLflow", lambda: get(f"{mlflow_url}/health")[0] == 200, timeout=180)
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_url
        print(f"native stack: PostgreSQL and MLflow up ({mlflow_url})", flush=True)

        # Two models in the registry: the first becomes champion.
        home = work / "trainer"
        asl.synth(work / "synthetic.zip", per_class=20, size=48, seed=5)
        asl.collect("asl/synthetic", from_zip=work / "synthetic.zip", home=home)
        versions = []
        for k, name in enumerate(["stack-one", "stack-two"]):
            run = asl.train({**TINY, "seed": k + 1}, dataset="asl/synthetic", name=name, home=home)
            versions.append(asl.register(run.tracking_run_id, dataset="asl/synthetic", home=home)["version"])
        asl.promote(versions[0], home=home)

        # Two replicas: scratch folders only; registry and log are shared.
        log_url = f"{pg}/asl_log"
        env = {**os.environ, "ASL_PREDICTION_LOG": log_url, "RUST_LOG": "warn"}
        ports = [free_port(), free_port()]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        with contextlib.ExitStack() as stack:
            for i, port in enumerate(ports):
                cmd = [str(args.server), "--host", "127.0.0.1", "--port", str(port), "--home", str(work / f"replica{i}"),
                       "--model-alias", "champion", "--wait-for-model", "--reload-poll-ms", "500"]  # fmt: skip
                stack.enter_context(process(cmd, work / f"replica{i}.log", env))
            for base in bases:
                wait_for(f"replica {base}", lambda base=base: get(f"{base}/ready")[0] == 200)
                assert served_name(base) == "stack-one", served_name(base)
            print("native stack: two replicas serve the champion", flush=True)

            # Prometheus scraping both, with the stack's alert rules.
            prom_port = free_port()
            prom_url = f"http://127.0.0.1:{prom_port}"
            shutil.copy(REPO / "deploy/prometheus/alerts.yml", work / "alerts.yml")
            config = {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": ["alerts.yml"],
                "scrape_configs": [{"job_name": "asl", "static_configs": [{"targets": [b.removeprefix("http://") for b in bases]}]}],
            }
            (work / "prometheus.yml").write_text(json.dumps(config))
            prom_cmd = [args.prometheus, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{prom_port}"]  # fmt: skip
            stack.enter_context(process(prom_cmd, work / "prometheus.log"))
            wait_for("Prometheus scraping both replicas", lambda: len([r for r in prometheus_query(prom_url, 'up{job="asl"} == 1')]) == 2)
            rules = json.loads(get(f"{prom_url}/api/v1/rules")[1])["data"]["groups"]
            assert sum(len(g["rules"]) for g in rules) > 0, "the alert rules were not loaded"
            print("native stack: Prometheus scrapes both replicas, alert rules loaded", flush=True)

            # Load on both while the champion moves.
            buf = io.BytesIO()
            rng = np.random.default_rng(0)
            Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(buf, format="JPEG")
            jpeg = buf.getvalue()
            results: list[int] = []
            stop = threading.Event()

            def load(i: int, base: str) -> None:
                n = 0
                while not stop.is_set():
                    results.append(predict(base, jpeg, f"replica{i}-{n}"))
                    n += 1

            threads = [threading.Thread(target=load, args=(i, b)) for i, b in enumerate(bases) for _ in range(2)]
            for t in threads:
                t.start()
            time.sleep(2)
            asl.promote(versions[1], home=home)
            for base in bases:
                wait_for(f"{base} following the champion", lambda base=base: served_name(base) == "stack-two", timeout=60)
            time.sleep(2)
            stop.set()
            for t in threads:
                t.join()
            failed = [s for s in results if s != 200]
            assert not failed and len(results) > 10, f"{len(failed)} failed of {len(results)}: {sorted(set(failed))}"
            print(f"native stack: champion moved under load, {len(results)} requests, 0 failed", flush=True)
            wait_for(
                "Prometheus counting both replicas' predictions",
                lambda: len(prometheus_query(prom_url, "sum by (instance) (asl_predictions_total) > 0")) == 2,
                timeout=30,
            )

            # One report over both replicas' predictions.
            def reported() -> int:
                return asl.monitor_report(work / "drift.html", since="1h", log=log_url, model="champion", home=home)["predictions"]

            wait_for("every prediction in the shared log", lambda: reported() == len(results), timeout=30)
            print(f"native stack: one drift report reads both replicas ({len(results)} predictions)", flush=True)


if __name__ == "__main__":
    main()
