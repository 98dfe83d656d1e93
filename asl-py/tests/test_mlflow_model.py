"""The python_function flavour: MLflow's own client loads and runs a model asl registered.

A real MLflow server (the pinned version, from this environment) with a SQLite store; asl
trains and registers through it (MLFLOW_TRACKING_URI), then `mlflow.pyfunc.load_model`
fetches the champion by alias and predicts.
"""

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import asl
from conftest import DATASET, TINY, need


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory):
    try:
        import mlflow  # noqa: F401
    except ImportError:
        need(False, "mlflow is not installed (pip install -r asl-py/requirements-dev.txt)")
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = open(root / "mlflow.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=log, cwd=root,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                pytest.fail(f"mlflow server did not start:\n{(root / 'mlflow.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_a_registered_model_loads_and_predicts_through_mlflow_pyfunc(mlflow_url, synthetic_zip, photos, tmp_path, monkeypatch):
    import mlflow
    import pandas as pd

    home = tmp_path / "home"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_url)
    asl.collect(DATASET, from_zip=synthetic_zip, home=home)
    run = asl.train(TINY, dataset=DATASET, name="tiny-mlflow", home=home)
    registered = asl.register(run.tracking_run_id, dataset=DATASET, home=home)
    assert registered["version"] == 1 and registered["promoted"]

    mlflow.set_tracking_uri(mlflow_url)
    uri = "models:/asl-fingerspelling@champion"
    info = mlflow.models.get_model_info(uri)
    assert info.flavors["python_function"]["loader_module"] == "asl.mlflow_model"
    assert info.flavors["asl"]["model_card"] == "model.json"

    model = mlflow.pyfunc.load_model(uri)
    probs, labels = asl.Classifier.load(run.model_dir).predict_with_proba(photos)
    # Paths, and what `mlflow models serve` hands over: a DataFrame of base64 text.
    by_path = model.predict([str(p) for p in photos])
    assert list(by_path["label"]) == labels
    assert np.allclose(by_path[asl.CLASSES].to_numpy(), probs, atol=1e-5)
    assert np.allclose(by_path["confidence"].to_numpy(), probs.max(axis=1))
    frame = pd.DataFrame({"image": [base64.b64encode(p.read_bytes()).decode() for p in photos]})
    assert list(model.predict(frame)["label"]) == labels
    # Raw bytes, an array of base64 text (`{"inputs": [...]}` to `mlflow models serve`), one
    # path, a dict of columns; nonsense is a clear error.
    assert list(model.predict([photos[0].read_bytes()])["label"]) == labels[:1]
    as_array = np.array([base64.b64encode(p.read_bytes()).decode() for p in photos])
    assert list(model.predict(as_array)["label"]) == labels
    assert list(model.predict(str(photos[1]))["label"]) == labels[1:2]
    assert list(model.predict({"image": str(photos[2])})["label"]) == labels[2:3]
    with pytest.raises(ValueError, match="neither a file nor base64"):
        model.predict(["not an image!"])
