"""A network reset and reused gives the fit a newly built one gives, to the last bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from _processed_fixtures import make_processed

from lmna_scrna.config import TrainConfig
from lmna_scrna.pp.assemble import load_processed
from lmna_scrna.tl.networks import Networks
from lmna_scrna.tl.train import fit_seed

#: Dropout and batch norm on, so their generator states and statistics must be reset too.
SMALL = TrainConfig(width=16, depth=2, dropout=0.3, epochs=3, batch_size=64, lr=1e-2, patience=8)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    return [load_processed(make_processed(folder / f"d{i}.h5ad", n_cells=600, n_genes=30, signal=1.0, seed=i))
            for i in range(2)]


def _fit_output(fitted) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    metrics = {k: v for k, v in fitted.metrics.items() if k != "train_seconds"}
    return metrics, fitted.history, fitted.predictions


@pytest.mark.parametrize("model", ["A", "B"])
def test_reused_network_fits_exactly_as_a_new_one(datasets, model):
    config = dataclasses.replace(SMALL, model=model)
    new = [_fit_output(fit_seed(data, config)) for data in datasets]
    networks = Networks()
    # the second fit of each dataset reuses the network trained by the one before it
    reused = [_fit_output(fit_seed(data, config, networks)) for data in [*datasets, datasets[0]]]

    for (m_new, h_new, p_new), (m_reused, h_reused, p_reused) in zip([*new, new[0]], reused, strict=True):
        assert m_new == m_reused
        pd.testing.assert_frame_equal(h_new, h_reused, check_exact=True)
        pd.testing.assert_frame_equal(p_new, p_reused, check_exact=True)


def test_another_seed_or_config_gets_its_own_network(datasets):
    networks = Networks()
    first, _ = networks.fresh(30, SMALL)
    assert networks.fresh(30, SMALL)[0] is first
    assert networks.fresh(30, dataclasses.replace(SMALL, seed=7))[0] is not first
    assert networks.fresh(30, dataclasses.replace(SMALL, width=8))[0] is not first
    assert networks.fresh(31, SMALL)[0] is not first


def test_reset_restores_every_weight_and_optimizer_slot(datasets):
    networks = Networks()
    model, _ = networks.fresh(30, SMALL)
    built = [np.array(v.numpy()) for v in [*model.variables, *model.optimizer.variables]]
    fit_seed(datasets[0], SMALL, networks)  # trains it: weights, statistics, slots and step count move
    assert int(model.optimizer.iterations.numpy()) > 0
    model, _ = networks.fresh(30, SMALL)
    for value, variable in zip(built, [*model.variables, *model.optimizer.variables], strict=True):
        np.testing.assert_array_equal(value, variable.numpy())
