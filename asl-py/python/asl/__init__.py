"""asl — read American Sign Language fingerspelling from photos.

Python bindings of asl-core (the Rust library behind the ``asl`` command): the same
functions, the same files under ``$ASL_HOME``, the same results.

Data and training::

    import asl
    asl.synth("synthetic.zip", per_class=60)              # or a Kaggle archive you have
    asl.collect("asl/synthetic", from_zip="synthetic.zip")
    asl.prep("asl/synthetic", size=32)
    run = asl.train({"epochs": 5}, dataset="asl/synthetic", progress=True)

Inference::

    clf = asl.Classifier.load(run.model_dir)               # or "champion" from the registry
    labels = clf.predict(images)                           # uint8 N×H×W×3, PIL, paths, …
    probs = clf.predict_proba(images)                      # N×29, columns clf.classes_
    clf.predict_word(["h.jpg", "e.jpg", "l.jpg", "l2.jpg", "o.jpg"]).text   # 'HELLO'
    asl.decode_word(probs).text                            # from probabilities

Search and registry::

    study = asl.hpo(trials=20, dataset="asl/synthetic")
    asl.register(study["best"]["run_id"], dataset="asl/synthetic")
    asl.runs(study=study["study"])                         # best first
    asl.promote(2); asl.rollback()                         # move the champion by hand
    asl.evaluate("champion", data="other-people.zip", by_source=True)["by_source"]
    asl.monitor_report("drift.html", since="7d")           # over the server's prediction log

Distributed search: ``python -m asl.optuna_worker --storage postgresql://… --study NAME``
on any number of hosts runs one Optuna study's trials through ``train`` (see
``asl.optuna_worker``; needs the ``optuna`` extra).

Every long call (``collect``, ``prep``, ``train``, ``hpo``, ``pipeline``) releases the GIL and
stops cleanly on Ctrl-C (KeyboardInterrupt): call it again to continue. Errors are
``asl.AslError`` subclasses carrying the core's message.
"""

from ._asl import (
    CLASSES,
    DEFAULT_DATASET,
    NUM_CLASSES,
    AslError,
    Alternative,
    Classifier,
    DatasetError,
    HpoError,
    Letter,
    ModelError,
    PrepError,
    Run,
    TrackingError,
    TrainError,
    WordError,
    WordEstimate,
    __version__,
    collect,
    decode_word,
    evaluate,
    hpo,
    models,
    monitor_report,
    pipeline,
    prep,
    promote,
    register,
    rollback,
    runs,
    search_space,
    status,
    synth,
    train,
    trial_config,
)

__all__ = [
    "CLASSES",
    "DEFAULT_DATASET",
    "NUM_CLASSES",
    "AslError",
    "Alternative",
    "Classifier",
    "DatasetError",
    "HpoError",
    "Letter",
    "ModelError",
    "PrepError",
    "Run",
    "TrackingError",
    "TrainError",
    "WordError",
    "WordEstimate",
    "__version__",
    "collect",
    "decode_word",
    "evaluate",
    "hpo",
    "models",
    "monitor_report",
    "pipeline",
    "prep",
    "promote",
    "register",
    "rollback",
    "runs",
    "search_space",
    "status",
    "synth",
    "train",
    "trial_config",
]
