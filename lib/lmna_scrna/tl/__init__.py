"""Tools: Keras models A and B, training, evaluation, the linear baseline, the run folder, embeddings.

Names are loaded on first use, so reading runs or metrics does not start TensorFlow.
"""

from ..lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "build_model": "models",
    "embed_train_fitted": "embedding",
    "subsample_cells": "embedding",
    "variance_explained": "embedding",
    "train_run": "train",
    "fit_baseline": "baseline",
    "genotype_metrics": "evaluate",
    "roc_points": "evaluate",
    "confusion_counts": "evaluate",
    "summarise": "evaluate",
    "load_run": "runs",
    "run_name": "runs",
})
