"""Model builders: heads, output shapes, loss weights, refused names."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lmna_scrna.config import TrainConfig
from lmna_scrna.errors import InputError
from lmna_scrna.tl.models import build_model, build_model_a, build_model_b, logit_model

TINY = TrainConfig(width=8, depth=2, epochs=1)


def test_model_a_has_one_sigmoid_genotype_head():
    model = build_model_a(20, TINY)
    out = model.predict(np.zeros((3, 20), np.float32), verbose=0)
    assert set(out) == {"geno"}
    assert out["geno"].shape == (3, 1)
    assert np.all((out["geno"] > 0) & (out["geno"] < 1))
    assert model.get_layer("geno").activation.__name__ == "sigmoid"


def test_model_b_adds_softmax_day_head_and_weighted_loss():
    model = build_model_b(20, dataclasses.replace(TINY, model="B", loss_w_day=0.25))
    x = np.random.default_rng(0).normal(size=(4, 20)).astype(np.float32)
    out = model.predict(x, verbose=0)
    assert set(out) == {"geno", "day"}
    assert out["day"].shape == (4, 7)
    np.testing.assert_allclose(out["day"].sum(axis=1), 1.0, rtol=1e-5)
    y = {"geno": np.array([0, 1, 0, 1], np.float32), "day": np.array([0, 3, 5, 6], np.int32)}
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["geno_loss"] + 0.25 * logs["day_loss"], rel=1e-5)


def test_backbone_depth_width_and_layer_order():
    model = build_model(30, dataclasses.replace(TINY, depth=3, width=5, activation="tanh"))
    kinds = [type(layer).__name__ for layer in model.layers[1:-2]]
    assert kinds == ["Dense", "FusedBatchNormalization", "Activation", "Dropout"] * 3
    assert [type(layer).__name__ for layer in model.layers[-2:]] == ["Dense", "Activation"]  # logit, then sigmoid
    with pytest.raises(ValueError):
        model.get_layer("head_dense")  # the text's architecture: no extra layer by default
    assert model.get_layer("dense_0").units == 5
    assert model.get_layer("act_2").activation.__name__ == "tanh"


def test_head_width_adds_the_paper_codes_extra_layer_before_both_heads():
    model = build_model_b(20, dataclasses.replace(TINY, model="B", width=16, head_width=8))
    assert model.get_layer("head_dense").units == 8
    assert model.get_layer("geno_logit").input.shape[-1] == 8 and model.get_layer("day_logit").input.shape[-1] == 8
    with pytest.raises(InputError, match="head_width"):
        build_model(10, dataclasses.replace(TINY, head_width=-1))


def test_logit_model_returns_the_logits_behind_the_probabilities():
    model = build_model_b(20, dataclasses.replace(TINY, model="B"))
    x = np.random.default_rng(2).normal(size=(5, 20)).astype(np.float32)
    probs, logits = model.predict(x, verbose=0), logit_model(model).predict(x, verbose=0)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits["geno"])), probs["geno"], rtol=1e-5)
    soft = np.exp(logits["day"]) / np.exp(logits["day"]).sum(1, keepdims=True)
    np.testing.assert_allclose(soft, probs["day"], rtol=1e-5)


def test_sgd_uses_momentum():
    model = build_model_a(10, dataclasses.replace(TINY, optimizer="sgd", momentum=0.8, lr=0.01))
    assert type(model.optimizer).__name__ == "SGD"
    assert model.optimizer.momentum == pytest.approx(0.8)


@pytest.mark.parametrize(
    "field, value",
    [("activation", "relux"), ("optimizer", "rmsprop2"), ("model", "C"), ("depth", 0), ("dropout", 1.0),
     ("arch", "rnn"), ("widths", (512, 0)), ("widths", ("512",)), ("conv_filters", 0), ("kernel_size", 0),
     ("pool_size", 0), ("loss_geno", "hinge"), ("threshold", 1.5), ("threshold", "0.5")],
)
def test_bad_hyperparameter_names_the_parameter(field, value):
    with pytest.raises(InputError, match=field):
        build_model(10, dataclasses.replace(TINY, **{field: value}))


def test_rmsprop_is_offered():
    model = build_model_a(10, dataclasses.replace(TINY, optimizer="rmsprop", lr=0.01))
    assert type(model.optimizer).__name__ == "RMSprop"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


def test_widths_give_each_dense_layer_its_own_width_and_override_depth_x_width():
    config = dataclasses.replace(TINY, width=99, depth=5, widths=[12, 6, 3])  # a YAML list becomes a tuple
    assert config.widths == (12, 6, 3) and hash(config)
    model = build_model(20, config)
    dense = [layer.units for layer in model.layers if layer.name.startswith("dense_")]
    assert dense == [12, 6, 3]
    assert model.get_layer("geno_logit").input.shape[-1] == 3


@pytest.mark.parametrize("model_name", ["A", "B"])
def test_cnn_backbone_puts_a_conv_block_before_the_dense_layers(model_name):
    config = dataclasses.replace(TINY, model=model_name, arch="cnn", conv_filters=4, kernel_size=3, pool_size=2,
                                 widths=(8, 4), head_width=2)
    model = build_model(20, config)
    names = [layer.name for layer in model.layers]
    assert names.index("conv") < names.index("conv_pool") < names.index("conv_flat") < names.index("dense_0")
    assert model.get_layer("conv").filters == 4 and model.get_layer("conv").kernel_size == (3,)
    assert model.get_layer("conv_flat").output.shape[-1] == 10 * 4  # 20 genes pooled by 2, 4 filters
    x = np.random.default_rng(1).normal(size=(6, 20)).astype(np.float32)
    out = model.predict(x, verbose=0)
    assert out["geno"].shape == (6, 1)
    if model_name == "B":
        assert out["day"].shape == (6, 7)
    with pytest.raises(InputError, match="pool_size"):
        build_model(3, dataclasses.replace(config, pool_size=4))


@pytest.mark.parametrize("model_name", ["A", "B"])
def test_mse_genotype_loss_is_the_squared_error_of_the_sigmoid_probability(model_name):
    model = build_model(20, dataclasses.replace(TINY, model=model_name, loss_geno="mean_squared_error", loss_w_day=0.5))
    x = np.random.default_rng(3).normal(size=(8, 20)).astype(np.float32)
    y = {"geno": np.array([0, 1] * 4, np.float32)}
    if model_name == "B":
        y["day"] = np.arange(8, dtype=np.int32) % 7
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)["geno"].reshape(-1)
    mse = float(np.mean((y["geno"] - p) ** 2))  # per cell, not the (n, n) broadcast of a (n,) and (n, 1) pair
    key = "loss" if model_name == "A" else "geno_loss"
    assert logs[key] == pytest.approx(mse, rel=1e-5)


def test_nan_learning_rate_is_refused():
    from lmna_scrna.config import TrainConfig
    from lmna_scrna.tl.models import check_config

    with pytest.raises(InputError, match="TrainConfig.lr=nan"):
        check_config(TrainConfig(lr=float("nan")))
    with pytest.raises(InputError, match="TrainConfig.loss_w_day=nan"):
        check_config(TrainConfig(loss_w_day=float("nan")))
