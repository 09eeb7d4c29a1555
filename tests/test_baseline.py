"""The logistic baselines give the same fit whatever the BLAS thread budget (`--jobs` must not move a number)."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from lmna_scrna.tl.baseline import fit_baseline


def test_baseline_fit_does_not_depend_on_the_blas_thread_count():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 600)).astype(np.float32)
    y = (X[:, :20].sum(axis=1) + rng.normal(scale=3.0, size=4000) > 0).astype(int)
    fits = {}
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            model, c = fit_baseline(X[:3000], y[:3000], X[3000:], y[3000:], seed=1)
        fits[threads] = (c, model.coef_.copy(), model.intercept_.copy(), model.decision_function(X[3000:]))
    assert fits[1][0] == fits[2][0]
    np.testing.assert_array_equal(fits[1][1], fits[2][1])
    np.testing.assert_array_equal(fits[1][2], fits[2][2])
    assert np.allclose(fits[1][3], fits[2][3], rtol=0, atol=1e-9)  # scores: same model, products may differ in the last bit
