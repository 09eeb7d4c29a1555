"""Tools: Keras models A and B, training, evaluation, the linear baseline, the run folder, embeddings.

Names are loaded on first use, so reading runs or metrics does not start TensorFlow.
"""

from importlib import import_module
from typing import Any

_HOMES = {
    "build_model": "models",
    "embed_train_fitted": "embedding",
    "subsample_cells": "embedding",
    "variance_explained": "embedding",
    "train_run": "train",
    "fit_baseline": "baseline",
    "genotype_metrics": "evaluate",
    "summarise": "evaluate",
    "load_run": "runs",
    "run_name": "runs",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
