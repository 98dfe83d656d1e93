"""Type stubs of asl's compiled module (``asl._asl``); ``import asl`` re-exports all of it."""

import os
from pathlib import Path
from typing import Any, Callable, Literal, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str
CLASSES: list[str]
"""The 29 classes in model output order: ``"A"`` … ``"Z"``, ``"del"``, ``"nothing"``, ``"space"``."""
NUM_CLASSES: int
DEFAULT_DATASET: str
"""``"grassknoted/asl-alphabet"``."""

StrPath = Union[str, os.PathLike[str]]
ImageLike = Union[npt.NDArray[np.uint8], StrPath, bytes, Any]
"""A uint8 ``H×W×3`` (or ``N×H×W×3``) array, a path, encoded image bytes, or a PIL image."""
ProgressArg = Union[bool, None, Callable[..., Any]]
"""``True`` (``tqdm.auto.tqdm``), ``False``/``None``, or a tqdm-like class or factory called
with ``total=`` and ``desc=`` whose result has ``update(n)`` and ``close()``."""

# Exceptions ---------------------------------------------------------------------------------

class AslError(Exception):
    """Base class of every error asl raises (its message is asl-core's)."""

class DatasetError(AslError):
    """Collecting or reading a dataset failed (Kaggle, archive, folder layout, synthetic data)."""

class PrepError(AslError):
    """Building or opening the prepared image cache failed."""

class ModelError(AslError):
    """Loading a model folder or running the model failed."""

class TrainError(AslError):
    """Training failed (bad configuration, checkpoint, resume)."""

class HpoError(AslError):
    """The hyper-parameter search failed."""

class TrackingError(AslError):
    """The tracking store or the model registry failed."""

class WordError(AslError):
    """Reading a word from photos or probabilities failed."""

# Data ---------------------------------------------------------------------------------------

def synth(out: StrPath, per_class: int = 60, size: int = 64, seed: int = 0) -> dict[str, Any]:
    """Write the embedded synthetic dataset as a zip in Kaggle's layout.

    Returns ``{"path", "images", "classes", "bytes"}``.
    """

def collect(
    dataset: str = "grassknoted/asl-alphabet",
    *,
    version: int | None = None,
    force: bool = False,
    from_zip: StrPath | None = None,
    from_dir: StrPath | None = None,
    keep_archive: bool = False,
    kaggle_url: str | None = None,
    home: StrPath | None = None,
    progress: ProgressArg = None,
) -> dict[str, Any]:
    """Bring a dataset version onto disk (from Kaggle, or register ``from_zip``/``from_dir``).

    Returns ``{"action", "manifest", "path", "download"}`` as ``asl collect --json``.
    """

def status(
    dataset: str = "grassknoted/asl-alphabet",
    *,
    version: int | None = None,
    offline: bool = False,
    kaggle_url: str | None = None,
    home: StrPath | None = None,
) -> dict[str, Any]:
    """Local versus remote versions of a dataset, and whether the local copy is outdated."""

def prep(
    dataset: str = "grassknoted/asl-alphabet",
    *,
    data: StrPath | None = None,
    size: int = 32,
    val_fraction: float = 0.2,
    split_seed: int = 42,
    force: bool = False,
    home: StrPath | None = None,
    progress: ProgressArg = None,
) -> dict[str, Any]:
    """Decode and resize the images once into a memory-mapped cache (reused when it matches).

    Returns ``{"cache", "built", "seconds", "train", "val", "image_size", "skipped", "hash", …}``.
    """

# Training -----------------------------------------------------------------------------------

class Run:
    """A finished training: the model folder, its validation metrics, its tracked run."""

    @property
    def model_dir(self) -> Path: ...
    @property
    def run_dir(self) -> Path: ...
    @property
    def name(self) -> str: ...
    @property
    def tracking_run_id(self) -> str: ...
    @property
    def validation(self) -> dict[str, Any]:
        """Validation metrics of the saved weights: accuracy, macro_f1, top3_accuracy, …"""
    @property
    def accuracy(self) -> float: ...
    @property
    def best_epoch(self) -> int: ...
    @property
    def stop(self) -> Literal["completed", "early_stopped", "time_budget", "callback", "photo_model_taken"]: ...
    @property
    def train_seconds(self) -> float: ...
    @property
    def images_per_sec(self) -> float: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def history(self) -> list[dict[str, float]]: ...
    @property
    def resumed_from_epoch(self) -> int: ...
    def classifier(self, device: str | None = None) -> Classifier:
        """Load the trained model."""
    def to_dict(self) -> dict[str, Any]: ...

def train(
    config: dict[str, Any] | None = None,
    *,
    dataset: str = "grassknoted/asl-alphabet",
    data: StrPath | None = None,
    val_fraction: float = 0.2,
    split_seed: int = 42,
    name: str | None = None,
    run_dir: StrPath | None = None,
    home: StrPath | None = None,
    progress: ProgressArg = None,
    on_epoch: Callable[[dict[str, float]], bool | None] | None = None,
    experiment: str | None = None,
    tags: dict[str, str] | None = None,
) -> Run:
    """Train a model on the prepared cache and save it as a model folder (a tracked run).

    ``config`` is a training configuration dict (missing keys take their defaults), e.g.
    ``{"epochs": 3, "batch_size": 32, "model": {"width": 8, "input_size": 32}}``. The same
    ``run_dir`` and configuration resume an interrupted run. Ctrl-C raises KeyboardInterrupt
    after the run folder is saved.
    """

# Search, registry, pipeline -----------------------------------------------------------------

def hpo(
    *,
    trials: int = 20,
    time_budget: float | None = None,
    parallel: int = 1,
    sampler: Literal["tpe", "random"] = "tpe",
    space: dict[str, dict[str, Any]] | StrPath | None = None,
    epochs: int = 9,
    startup_trials: int = 5,
    prune: bool = True,
    eta: int = 3,
    seed: int = 0,
    base: dict[str, Any] | None = None,
    study: str | None = None,
    dataset: str = "grassknoted/asl-alphabet",
    data: StrPath | None = None,
    size: int = 32,
    val_fraction: float = 0.2,
    split_seed: int = 42,
    home: StrPath | None = None,
    on_event: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Search hyper-parameters (TPE or random, ASHA pruning); continues a stopped study.

    Returns ``{"study", "dir", "trials", "best", "elapsed_secs"}`` as ``asl hpo --json``.
    """

def search_space(space: dict[str, dict[str, Any]] | StrPath | None = None) -> dict[str, dict[str, Any]]:
    """The search space as plain data, checked (a dict or JSON file as ``asl hpo --space``
    reads it), or the default space."""

def trial_config(
    params: dict[str, Any],
    *,
    base: dict[str, Any] | None = None,
    epochs: int = 9,
) -> dict[str, Any]:
    """The training configuration of one trial as ``asl hpo`` trains it: ``base`` with
    ``params`` set, ``epochs`` epochs, no early stopping of its own (the pruner decides)."""

def register(
    run_id: str,
    *,
    dataset: str = "grassknoted/asl-alphabet",
    data: StrPath | None = None,
    size: int = 32,
    val_fraction: float = 0.2,
    split_seed: int = 42,
    home: StrPath | None = None,
) -> dict[str, Any]:
    """Register a tracked run's model; it becomes champion only if it beats the champion.

    Returns ``{"version", "promoted", "candidate_accuracy", "champion_version",
    "champion_accuracy", "reason"}``.
    """

def models(*, home: StrPath | None = None) -> dict[str, Any]:
    """The registered versions and their aliases: ``{"model", "store", "versions"}``."""

def promote(version: int, *, home: StrPath | None = None) -> dict[str, Any]:
    """Make ``version`` the champion (no guard): ``{"champion", "previous"}``."""

def rollback(*, home: StrPath | None = None) -> dict[str, Any]:
    """Move the champion back to the version before it: ``{"champion"}``."""

def runs(
    experiment: str = "asl-hpo",
    *,
    study: str | None = None,
    limit: int = 20,
    home: StrPath | None = None,
) -> dict[str, Any]:
    """Tracked runs, best validation accuracy first: ``{"store", "runs"}`` (as ``asl runs --json``)."""

def evaluate(
    model: str | None = None,
    *,
    data: StrPath | None = None,
    by_source: bool = False,
    device: str | None = None,
    home: StrPath | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """A model (folder, alias, version; default the newest) on a folder or zip of class
    folders, or on its held-out split: ``{"model", "data", "report", "by_source"}`` (as
    ``asl eval --json``)."""

def monitor_report(
    out: StrPath = ...,
    *,
    since: str = "7d",
    log: StrPath | None = None,
    model: str | None = None,
    home: StrPath | None = None,
) -> dict[str, Any]:
    """The drift report of the server's predictions of the last ``since``, written to ``out``
    (HTML): ``{"out", "predictions", "model", "log", "from", "to"}``."""

def pipeline(
    *,
    from_zip: StrPath | None = None,
    dataset: str = "grassknoted/asl-alphabet",
    kaggle_url: str | None = None,
    size: int = 32,
    network_attempts: int = 3,
    trials: int = 20,
    time_budget: float | None = None,
    parallel: int = 1,
    sampler: Literal["tpe", "random"] = "tpe",
    space: dict[str, dict[str, Any]] | StrPath | None = None,
    epochs: int = 9,
    startup_trials: int = 5,
    prune: bool = True,
    eta: int = 3,
    seed: int = 0,
    base: dict[str, Any] | None = None,
    home: StrPath | None = None,
    on_event: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """collect → prep → hpo → register, each step skipped when its inputs are unchanged.

    Returns ``{"steps", "dataset_version", "cache_hash", "study", "registered_version",
    "promotion"}`` as ``asl pipeline --json`` (``promotion`` is None when no new version was
    registered).
    """

# Inference and words ------------------------------------------------------------------------

class Letter:
    """The most likely class of one photo."""

    @property
    def file(self) -> str: ...
    @property
    def label(self) -> str:
        """``"A"`` … ``"Z"``, ``"del"``, ``"nothing"`` or ``"space"``."""
    @property
    def confidence(self) -> float: ...

class Alternative:
    """A candidate reading and its total log score (higher is better)."""

    @property
    def text(self) -> str: ...
    @property
    def score(self) -> float: ...

class WordEstimate:
    """The word (or phrase) a sequence of photos spells."""

    @property
    def text(self) -> str:
        """Words in upper case joined by single spaces; empty when nothing was read."""
    @property
    def confidence(self) -> float: ...
    @property
    def alternatives(self) -> list[Alternative]: ...
    @property
    def letters(self) -> list[Letter]: ...
    @property
    def skipped(self) -> list[tuple[str, str]]:
        """``(file, reason)`` of every photo that was left out."""
    @property
    def top3(self) -> list[list[tuple[str, float]]]: ...
    @property
    def complete(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]:
        """As ``asl predict --json``."""

class Classifier:
    """A trained model, ready to classify photos (thread-safe; releases the GIL)."""

    @staticmethod
    def load(path_or_alias: StrPath, *, home: StrPath | None = None, device: str | None = None) -> Classifier:
        """Load a model folder, or a registry version (``"champion"``, ``"challenger"``, ``"3"``)."""
    def predict(self, x: ImageLike | Sequence[ImageLike]) -> npt.NDArray[np.str_]:
        """The most likely class of each image (scikit-learn style): N class names.

        ``x``: a uint8 ``H×W×3`` or ``N×H×W×3`` array of any size (resized as in training),
        a PIL image, a path, encoded image bytes, or a list of those. Wrong dtype: TypeError;
        wrong shape: ValueError.
        """
    def predict_proba(self, x: ImageLike | Sequence[ImageLike]) -> npt.NDArray[np.float32]:
        """Class probabilities (scikit-learn style): N×29 float32, columns in ``classes_`` order."""
    def predict_with_proba(self, x: ImageLike | Sequence[ImageLike]) -> tuple[npt.NDArray[np.float32], list[str]]:
        """Both in one pass: ``(N×29 float32 probabilities, N labels)``."""
    def predict_word(
        self,
        images: StrPath | ImageLike | Sequence[ImageLike],
        *,
        raw: bool = False,
        lexicon: StrPath | None = None,
        prior_weight: float | None = None,
        beam_width: int | None = None,
        oov_min_confidence: float | None = None,
        oov_log_prior: float | None = None,
        top_k: int | None = None,
        collapse_repeats: bool | None = None,
    ) -> WordEstimate:
        """Read the word photos spell: a list of images, an N×H×W×3 array, a zip or a folder."""
    @property
    def input_size(self) -> int: ...
    @property
    def classes(self) -> list[str]: ...
    @property
    def classes_(self) -> npt.NDArray[np.str_]:
        """``classes`` as a numpy array (scikit-learn's attribute)."""
    @property
    def path(self) -> Path:
        """The model folder."""
    @property
    def card(self) -> dict[str, Any]:
        """The model card (``model.json``)."""

def decode_word(
    probs: npt.ArrayLike,
    names: Sequence[str] | None = None,
    *,
    raw: bool = False,
    lexicon: StrPath | None = None,
    prior_weight: float | None = None,
    beam_width: int | None = None,
    oov_min_confidence: float | None = None,
    oov_log_prior: float | None = None,
    top_k: int | None = None,
    collapse_repeats: bool | None = None,
) -> WordEstimate:
    """Read the word an ``N×29`` probability matrix (float32 or float64) spells."""
