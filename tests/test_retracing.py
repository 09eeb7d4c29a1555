"""The prediction function of a trained network traces once, whatever the number of cells (no retracing warning)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lmna_scrna.config import TrainConfig
from lmna_scrna.tl.models import build_model, logit_model
from lmna_scrna.tl.networks import PREDICT_BATCH, Logits


def test_logits_trace_once_and_give_the_same_numbers_as_a_retracing_function() -> None:
    model = build_model(6, TrainConfig(model="B", width=8, depth=1), jit_compile=False)
    logits = Logits(model)
    heads = logit_model(model)
    retracing = tf.function(lambda x: heads(x, training=False), reduce_retracing=True)  # traces per new shape
    rng = np.random.default_rng(0)
    for n in (3, PREDICT_BATCH + 5, 17):  # a short set, a full batch and a short last batch, another size
        X = rng.normal(size=(n, 6)).astype(np.float32)
        got = logits(X)
        batches = [retracing(b) for b in tf.data.Dataset.from_tensor_slices(X).batch(PREDICT_BATCH)]
        for head in ("geno", "day"):
            np.testing.assert_array_equal(got[head], np.concatenate([np.asarray(b[head], np.float64) for b in batches]))
    assert logits._predict.experimental_get_tracing_count() == 1
