"""MLflow's ``python_function`` flavour of an asl model.

Every model asl logs to a tracking store carries an ``MLmodel`` file naming this module as its
loader, so MLflow's own clients use asl models where this package is installed::

    import mlflow
    model = mlflow.pyfunc.load_model("models:/asl-fingerspelling@champion")
    model.predict(["h.jpg", "i.jpg"])           # paths, encoded bytes, base64 text, arrays
    model.predict(pandas.DataFrame({"image": [open("h.jpg", "rb").read()]}))

and ``mlflow models serve -m models:/asl-fingerspelling@champion --env-manager local`` answers
``{"dataframe_split": {"columns": ["image"], "data": [["<base64 JPEG>"]]}}``.

The answer is a DataFrame, one row per image: ``label``, ``confidence`` and one probability
column per class (``asl.CLASSES`` order).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

import numpy as np

from ._asl import CLASSES, Classifier


def _load_pyfunc(data_path: str) -> "AslPyfuncModel":
    """Called by ``mlflow.pyfunc.load_model`` with the model's local folder."""
    return AslPyfuncModel(Classifier.load(data_path))


class AslPyfuncModel:
    """What ``mlflow.pyfunc.load_model`` wraps: ``predict(model_input, params=None)``."""

    def __init__(self, classifier: Classifier):
        self.classifier = classifier

    def predict(self, model_input: Any, params: dict | None = None):
        images = _images(model_input)
        if not images:
            raise ValueError("no images: pass paths, bytes, base64 text or uint8 arrays")
        probs, labels = self.classifier.predict_with_proba(images)
        return _frame(probs, labels)

    def unwrap_python_model(self) -> Classifier:
        return self.classifier


def _images(model_input: Any) -> list:
    """The images in what MLflow hands over: a DataFrame (its `image` column, else its first),
    a Series, a dict of columns, an N×H×W×3 uint8 array, an array or list of paths / bytes /
    base64 text (what `mlflow models serve` makes of ``{"inputs": [...]}``), or one image."""
    if isinstance(model_input, np.ndarray):
        if model_input.dtype == np.uint8:
            return [model_input] if model_input.ndim == 3 else list(model_input)
        values = model_input.ravel().tolist()
    elif isinstance(model_input, (str, bytes, bytearray, memoryview, os.PathLike, np.generic)):
        values = [model_input]
    elif hasattr(model_input, "columns") and hasattr(model_input, "iloc"):  # a pandas DataFrame
        column = "image" if "image" in model_input.columns else model_input.columns[0]
        values = list(model_input[column])
    elif hasattr(model_input, "iloc"):  # a pandas Series
        values = list(model_input)
    elif isinstance(model_input, dict):
        column = model_input.get("image", next(iter(model_input.values()), []))
        values = [column] if isinstance(column, (str, bytes, bytearray, memoryview)) else list(column)
    elif isinstance(model_input, (list, tuple)):
        values = list(model_input)
    else:
        values = [model_input]
    return [_image(v) for v in values]


def _image(value: Any):
    """One image: a path, encoded bytes, base64 text of encoded bytes, or a uint8 array."""
    if isinstance(value, np.generic) and not isinstance(value, np.uint8):
        value = value.item()  # np.str_ / np.bytes_ → str / bytes
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, os.PathLike):
        return value
    if isinstance(value, str):
        if os.path.isfile(value):
            return value
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{value[:60]!r} is neither a file nor base64-encoded image bytes") from None
    array = np.asarray(value)
    if array.dtype != np.uint8:
        raise TypeError(f"an image array must be uint8, not {array.dtype}")
    return array


def _frame(probs: np.ndarray, labels: list[str]):
    import pandas as pd  # MLflow depends on pandas; asl itself does not.

    frame = pd.DataFrame(probs, columns=list(CLASSES))
    frame.insert(0, "confidence", probs.max(axis=1))
    frame.insert(0, "label", labels)
    return frame
