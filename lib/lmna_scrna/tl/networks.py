"""Compiled networks, built once per process and reset between fits, and their prediction functions.

Building a Keras network and tracing its training, validation and prediction
functions costs about a second: as much as several epochs of a calibration
fold, and a replicate trains the same network from the same seed on four
folds. Resetting every variable the fit reads (weights, batch-norm
statistics, dropout generators' states, optimizer slots and step count) to
the values it had when built gives the same fit as a newly built network
(tested), without the rebuild or the retrace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import TrainConfig
from .backend import keras, tf
from .models import build_model, logit_model

#: Cells per prediction call (validation every epoch, then validation and test once).
PREDICT_BATCH = 4096


class Logits:
    """One prediction function per network, reused for every set of cells (no retracing).

    Its input signature (any number of float32 cells) makes it trace once: without one, the last, shorter
    batch traced it again, and a kernel training several networks (the sweep) drew TensorFlow's
    "frequent retracing" warning.
    """

    def __init__(self, model: keras.Model) -> None:
        self._model = logit_model(model)
        cells = tf.TensorSpec(shape=(None, model.input_shape[-1]), dtype=tf.float32)
        self._predict = tf.function(lambda x: self._model(x, training=False), input_signature=[cells])

    def __call__(self, X: np.ndarray) -> dict[str, np.ndarray]:
        parts = [self._predict(batch) for batch in tf.data.Dataset.from_tensor_slices(X).batch(PREDICT_BATCH)]
        return {k: np.concatenate([np.asarray(p[k], dtype=np.float64) for p in parts]) for k in parts[0]}


@dataclass(frozen=True)
class _Built:
    model: keras.Model
    logits: Logits
    initial: list[np.ndarray]


def _state(model: keras.Model) -> list[keras.Variable]:
    return [*model.variables, *model.optimizer.variables]


class Networks:
    """Networks by (genes, hyperparameters including the seed): the first request builds, later ones reset.

    Build under the config's seed (`keras.utils.set_random_seed`) as a fresh
    network would be: the stored initial state is what that build drew.
    """

    def __init__(self) -> None:
        self._built: dict[tuple[int, TrainConfig], _Built] = {}

    def fresh(self, n_genes: int, config: TrainConfig) -> tuple[keras.Model, Logits]:
        """A compiled network in its just-built state, and its prediction function."""
        built = self._built.get((n_genes, config))
        if built is None:
            model = build_model(n_genes, config)
            model.optimizer.build(model.trainable_variables)  # its slots exist now, so the reset covers them
            built = _Built(model, Logits(model), [np.array(v.numpy()) for v in _state(model)])
            self._built[(n_genes, config)] = built
        else:
            for variable, value in zip(_state(built.model), built.initial, strict=True):
                variable.assign(value)
        return built.model, built.logits
