"""asl.train and asl.Run: tracked training, callbacks, progress, Ctrl-C and resume."""

import json
import signal
import threading
import time
from pathlib import Path

import pytest

import asl
from conftest import DATASET, TINY
from test_data import FakeBar


def test_trained_run(trained, home):
    assert isinstance(trained, asl.Run)
    assert trained.name == "tiny"
    assert trained.model_dir == Path(home) / "models" / "tiny"
    for f in ["weights.bpk", "model.json", "confusion.csv", "confusion.svg"]:
        assert (trained.model_dir / f).is_file(), f
    assert [h["epoch"] for h in trained.history] == [1, 2, 3]
    assert 0.0 <= trained.accuracy <= 1.0 and trained.accuracy == trained.validation["accuracy"]
    assert trained.stop in {"completed", "early_stopped"}
    assert trained.latency_ms > 0 and trained.train_seconds > 0 and trained.resumed_from_epoch == 0
    assert trained.tracking_run_id
    run_json = Path(home) / "tracking" / "runs" / trained.tracking_run_id / "run.json"
    assert run_json.is_file()
    d = trained.to_dict()
    assert d["tracking_run_id"] == trained.tracking_run_id and d["model_dir"] == trained.model_dir
    assert "tiny" in repr(trained)
    card = trained.classifier().card
    assert card["training"]["model"]["width"] == 8 and card["training"]["epochs"] == 3


def test_on_epoch_can_stop_and_progress_is_drawn(collected, home):
    seen = []
    FakeBar.bars.clear()

    def on_epoch(m):
        seen.append(m)
        return False  # stop after the first epoch

    run = asl.train({**TINY, "epochs": 5}, dataset=DATASET, name="stopped", home=home, on_epoch=on_epoch, progress=FakeBar)
    assert run.stop == "callback" and len(run.history) == 1
    assert [m["epoch"] for m in seen] == [1] and set(seen[0]) >= {"train_loss", "val_accuracy", "lr"}
    epoch_bars = [b for b in FakeBar.bars if b.desc == "epoch 1"]
    assert len(epoch_bars) == 1 and epoch_bars[0].closed
    assert epoch_bars[0].n == epoch_bars[0].total  # every training image, flushed at the end


def test_on_epoch_exception_propagates(collected, home):
    def boom(m):
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        asl.train(TINY, dataset=DATASET, name="boom", home=home, on_epoch=boom)


def test_train_argument_errors(collected, home):
    with pytest.raises(TypeError, match="must be a dict"):
        asl.train([1, 2], dataset=DATASET, home=home)
    with pytest.raises(asl.TrainError, match="epochs"):
        asl.train({"epochs": 0}, dataset=DATASET, home=home)
    with pytest.raises(ValueError, match="invalid training configuration"):
        asl.train({"epochs": "many"}, dataset=DATASET, home=home)
    with pytest.raises(TypeError):
        asl.train({"epochs": object()}, dataset=DATASET, home=home)
    with pytest.raises(ValueError, match='unknown key "model.widht"'):
        asl.train({"model": {"widht": 8}}, dataset=DATASET, home=home)
    with pytest.raises(TypeError, match="on_epoch"):
        asl.train(TINY, dataset=DATASET, home=home, on_epoch=3)
    with pytest.raises(asl.TrainError, match="unknown device"):
        asl.train({**TINY, "device": "tpu"}, dataset=DATASET, home=home)


def test_settings_written_only_when_set_are_known_keys():
    """The defaults leave out `photo_model`, the landmark model and the fusion gate; a dict may
    still set them (docs/hands/runtime.md), and a misspelt one is still refused."""
    base = {
        "photo_model": "/models/cnn64",
        "handshape": {"landmark_model": "lite", "fusion_gate": {"photo_confidence": 0.8, "photo_weight": 4.0}},
    }
    config = asl.trial_config({"lr": 0.01}, base=base)
    assert config["photo_model"] == "/models/cnn64"
    assert config["handshape"]["landmark_model"] == "lite"
    assert config["handshape"]["fusion_gate"] == {"photo_confidence": 0.8, "photo_weight": 4.0}
    with pytest.raises(ValueError, match='unknown key "handshape.landmark_modle"; the keys here are: .*other_signers_repeat'):
        asl.trial_config({}, base={"handshape": {"landmark_modle": "lite"}})


def test_ctrl_c_stops_training_promptly_and_the_run_resumes(collected, home, tmp_path):
    """SIGINT during a long training: KeyboardInterrupt within a batch, run folder resumable."""
    config = {**TINY, "epochs": 200, "patience": 0}
    run_dir = tmp_path / "run"
    main = threading.main_thread().ident
    sent = {}

    def on_epoch(m):
        if m["epoch"] == 1 and not sent:
            sent["at"] = time.monotonic()
            signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            asl.train(config, dataset=DATASET, name="interrupted", run_dir=run_dir, home=home, on_epoch=on_epoch)
        stopped_after = time.monotonic() - sent["at"]
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stopped_after < 10, f"KeyboardInterrupt took {stopped_after:.1f}s"
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    assert 1 <= state["epochs_done"] <= 3  # stopped within the epoch after the signal
    assert not (Path(home) / "models" / "interrupted").exists()
    # The same call continues from the checkpoint (shortened with a budget to keep CI fast).
    resumed = asl.train({**config, "time_budget_secs": 1}, dataset=DATASET, name="interrupted", run_dir=run_dir, home=home)
    assert resumed.resumed_from_epoch == state["epochs_done"]
    assert len(resumed.history) > state["epochs_done"]
    assert (run_dir / "tracking_run_id").read_text().strip() == resumed.tracking_run_id
