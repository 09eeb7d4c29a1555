"""FusedAdam is Keras's Adam, one kernel per variable: same arithmetic, deterministic, reset with the network;
the stock-Keras copy a run saves has the same weights and predictions."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from lmna_scrna.config import TrainConfig
from lmna_scrna.tl.fused import FusedAdam, FusedBatchNormalization, stock_keras
from lmna_scrna.tl.models import build_model, build_model_a


class KerasAdamFloat32Decay(keras.optimizers.Adam):
    """Keras 3.15's `Adam.update_step` op for op, except ``1 - beta`` formed in float32 as the kernel forms it."""

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, gradient = ops.cast(learning_rate, dtype), ops.cast(gradient, dtype)
        local_step = ops.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        alpha = lr * ops.sqrt(1 - ops.power(beta_2, local_step)) / (1 - ops.power(beta_1, local_step))
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - beta_2))
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))


def _train(optimizer: keras.optimizers.Optimizer, seed: int = 0) -> list[np.ndarray]:
    """Weights and optimizer state after 80 steps of a small net with batch norm and dropout."""
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(320, 12)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(np.float32)
    model = keras.Sequential([
        keras.Input((12,)), keras.layers.Dense(8, use_bias=False), keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"), keras.layers.Dropout(0.3), keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=optimizer, loss="binary_crossentropy", steps_per_execution=4)
    model.fit(X, y, batch_size=32, epochs=8, shuffle=False, verbose=0)
    return [np.array(v.numpy()) for v in [*model.weights, *optimizer.variables]]


def test_same_arithmetic_as_keras_adam_with_float32_decay_constants():
    fused = _train(FusedAdam(learning_rate=1e-2))
    keras_ops = _train(KerasAdamFloat32Decay(learning_rate=1e-2))
    for a, b in zip(fused, keras_ops, strict=True):
        np.testing.assert_array_equal(a, b)


def test_close_to_stock_keras_adam():
    """Stock Keras rounds the float64 1 - beta: 3 and 111 ulps from the kernel's constants, so weights move slightly."""
    assert np.float32(1) - np.float32(0.9) != np.float32(1 - 0.9)
    fused = _train(FusedAdam(learning_rate=1e-2))
    stock = _train(keras.optimizers.Adam(learning_rate=1e-2))
    for a, b in zip(fused, stock, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_deterministic_same_seed_same_weights():
    first, second = _train(FusedAdam(learning_rate=1e-2)), _train(FusedAdam(learning_rate=1e-2))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    other = _train(FusedAdam(learning_rate=1e-2), seed=1)
    assert not np.array_equal(first[0], other[0])


def test_model_a_trains_with_fused_adam_and_saves_it(tmp_path):
    model = build_model_a(6, TrainConfig(width=4, depth=1, epochs=1))
    assert type(model.optimizer) is FusedAdam
    model.fit(np.ones((8, 6), np.float32), {"geno": np.ones(8, np.float32)}, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is FusedAdam


def test_amsgrad_keeps_keras_update():
    fused = _train(FusedAdam(learning_rate=1e-2, amsgrad=True))
    stock = _train(keras.optimizers.Adam(learning_rate=1e-2, amsgrad=True))
    for a, b in zip(fused, stock, strict=True):
        np.testing.assert_array_equal(a, b)


def test_lr_and_betas_are_read_from_the_optimizer():
    a = _train(FusedAdam(learning_rate=1e-2, beta_1=0.5))
    b = _train(KerasAdamFloat32Decay(learning_rate=1e-2, beta_1=0.5))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], _train(FusedAdam(learning_rate=1e-2))[0])


def _bn_step(layer: keras.layers.BatchNormalization, x: np.ndarray, dy: np.ndarray) -> list[np.ndarray]:
    """Training output, gradients (inputs, gamma, beta) and moving statistics after one training call."""
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        y = layer(x_t, training=True)
        loss = tf.reduce_sum(y * dy)
    grads = tape.gradient(loss, [x_t, layer.gamma.value, layer.beta.value])
    return [y.numpy(), *(g.numpy() for g in grads), layer.moving_mean.numpy(), layer.moving_variance.numpy()]


def test_fused_batch_norm_agrees_with_keras_to_float32_rounding():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(256, 64)).astype(np.float32)
    dy = rng.normal(size=(256, 64)).astype(np.float32)
    layers = [FusedBatchNormalization(), keras.layers.BatchNormalization()]
    for layer in layers:
        layer.build((None, 64))
        layer.gamma.assign(rng.uniform(0.5, 1.5, 64).astype(np.float32))
        layer.beta.assign(np.linspace(-1, 1, 64, dtype=np.float32))
    layers[1].gamma.assign(layers[0].gamma.numpy())
    fused, stock = (_bn_step(layer, x, dy) for layer in layers)
    for a, b in zip(fused, stock, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5 * np.abs(b).max())
    # inference is Keras's own code: the same moving statistics give the same outputs
    layers[1].moving_mean.assign(layers[0].moving_mean.numpy())
    layers[1].moving_variance.assign(layers[0].moving_variance.numpy())
    np.testing.assert_array_equal(layers[0](x, training=False).numpy(), layers[1](x, training=False).numpy())


def test_fused_batch_norm_falls_back_to_keras_beyond_two_dimensions():
    x = np.random.default_rng(1).normal(size=(8, 5, 3)).astype(np.float32)
    fused, stock = FusedBatchNormalization(), keras.layers.BatchNormalization()
    np.testing.assert_array_equal(fused(x, training=True).numpy(), stock(x, training=True).numpy())


def test_model_with_both_is_deterministic_and_reloads(tmp_path):
    config = TrainConfig(width=8, depth=2, epochs=1, dropout=0.3)
    X = np.random.default_rng(2).normal(size=(64, 6)).astype(np.float32)
    y = {"geno": (X[:, 0] > 0).astype(np.float32)}
    weights = []
    for _ in range(2):
        tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(3)
        model = build_model_a(6, config)
        assert type(model.get_layer("bn_0")) is FusedBatchNormalization
        model.fit(X, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
        weights.append([v.numpy() for v in model.variables])
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded.get_layer("bn_0")) is FusedBatchNormalization
    np.testing.assert_array_equal(loaded.predict(X, verbose=0)["geno"], model.predict(X, verbose=0)["geno"])


def test_stock_keras_copy_is_keras_layers_with_the_same_weights_and_predictions():
    """What a run saves: Keras's own layers (conv block's batch norm and both heads included), uncompiled."""
    config = TrainConfig(model="B", width=8, depth=2, dropout=0.3, arch="cnn", conv_filters=4, kernel_size=3)
    X = np.random.default_rng(4).normal(size=(64, 6)).astype(np.float32)
    y = {"geno": (X[:, 0] > 0).astype(np.float32), "day": (X[:, 1] > 0).astype(np.int32)}
    keras.utils.set_random_seed(5)
    model = build_model(6, config)
    model.fit(X, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    stock = stock_keras(model)
    assert {type(layer).__module__.split(".")[0] for layer in stock.layers} == {"keras"}
    assert not stock.compiled and type(model.optimizer) is FusedAdam  # the network itself keeps training as it was
    assert type(model.get_layer("bn_0")) is FusedBatchNormalization
    assert [w.path for w in stock.weights] == [w.path for w in model.weights]
    for a, b in zip(stock.weights, model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for head in ("geno", "day"):
        np.testing.assert_array_equal(stock(X, training=False)[head].numpy(), model(X, training=False)[head].numpy())

