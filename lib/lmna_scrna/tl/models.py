"""Models A and B of the paper (§2.5) as short Keras functional builders.

Both models share one backbone, depth x (Dense -> BatchNorm -> Activation ->
Dropout). Model A has a sigmoid genotype head; Model B adds a 7-way softmax
day head and minimises L_geno + loss_w_day * L_day. Outputs are always a dict
keyed by head name ("geno", "day"), so training, metrics and prediction code
never branch on list positions.

Each head is a linear layer (``geno_logit``, ``day_logit``) followed by its
activation, so `logit_model` can return the logits themselves: losses are
computed from them exactly, never from float32 probabilities that round to 1.
The paper's code puts a ``Dense(width // 2)`` layer before the heads that its
text does not describe; ``head_width`` > 0 adds such a layer (0, the text's
architecture, is the default).
"""

from __future__ import annotations

import keras

from ..config import TrainConfig
from ..errors import InputError
from ..io.study import DAYS

#: Activations offered to the sweep; any other name is refused up front rather
#: than failing deep inside Keras after the data are loaded.
ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "gelu", "elu", "selu", "swish", "sigmoid", "leaky_relu")
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
MODELS: tuple[str, ...] = ("A", "B")


def check_config(config: TrainConfig) -> None:
    """Refuse unknown names (and, through `TrainConfig.check`, impossible numbers), naming the parameter."""
    config.check()
    if config.model not in MODELS:
        raise InputError(f"TrainConfig.model={config.model!r}: expected one of {', '.join(MODELS)}")
    if config.activation not in ACTIVATIONS:
        raise InputError(f"TrainConfig.activation={config.activation!r}: expected one of {', '.join(ACTIVATIONS)}")
    if config.optimizer not in OPTIMIZERS:
        raise InputError(f"TrainConfig.optimizer={config.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")


def build_backbone(inputs: keras.KerasTensor, config: TrainConfig) -> keras.KerasTensor:
    """The shared MLP trunk. Dense has no bias because the BatchNorm after it adds one."""
    x = inputs
    for i in range(config.depth):
        x = keras.layers.Dense(config.width, use_bias=False, name=f"dense_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = keras.layers.Activation(config.activation, name=f"act_{i}")(x)
        x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    return x


def _head_input(trunk: keras.KerasTensor, config: TrainConfig) -> keras.KerasTensor:
    """The trunk, or the paper code's extra Dense(head_width) layer on it when head_width > 0."""
    if config.head_width == 0:
        return trunk
    return keras.layers.Dense(config.head_width, activation=config.activation, name="head_dense")(trunk)


def _geno_head(x: keras.KerasTensor) -> keras.KerasTensor:
    return keras.layers.Activation("sigmoid", name="geno")(keras.layers.Dense(1, name="geno_logit")(x))


def _day_head(x: keras.KerasTensor) -> keras.KerasTensor:
    return keras.layers.Activation("softmax", name="day")(keras.layers.Dense(len(DAYS), name="day_logit")(x))


def logit_model(model: keras.Model) -> keras.Model:
    """The same network returning its heads' logits ({"geno": (n, 1), "day": (n, 7) for B}), sharing weights."""
    names = [n for n in ("geno", "day") if n in model.output]
    return keras.Model(model.inputs, {n: model.get_layer(f"{n}_logit").output for n in names})


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """Adam, or SGD with the configured momentum (the paper's sweep compares the two)."""
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=config.lr)
    return keras.optimizers.SGD(learning_rate=config.lr, momentum=config.momentum)


def _geno_metrics() -> list[keras.metrics.Metric]:
    # Named "auc" so the logged key is val_geno_auc, which early stopping monitors.
    return [keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="acc")]


def build_model_a(n_genes: int, config: TrainConfig, jit_compile: bool | str = "auto") -> keras.Model:
    """Model A: backbone + sigmoid genotype head, binary cross-entropy; compiled."""
    check_config(config)
    inputs = keras.Input(shape=(n_genes,), name="expression")
    geno = _geno_head(_head_input(build_backbone(inputs, config), config))
    model = keras.Model(inputs, {"geno": geno}, name="model_A")
    model.compile(
        optimizer=make_optimizer(config),
        loss={"geno": keras.losses.BinaryCrossentropy()},
        metrics={"geno": _geno_metrics()},
        jit_compile=jit_compile,
    )
    return model


def build_model_b(n_genes: int, config: TrainConfig, jit_compile: bool | str = "auto") -> keras.Model:
    """Model B: the same backbone + a 7-way softmax day head; loss = L_geno + loss_w_day * L_day."""
    check_config(config)
    inputs = keras.Input(shape=(n_genes,), name="expression")
    trunk = _head_input(build_backbone(inputs, config), config)
    geno, day = _geno_head(trunk), _day_head(trunk)
    model = keras.Model(inputs, {"geno": geno, "day": day}, name="model_B")
    model.compile(
        optimizer=make_optimizer(config),
        loss={"geno": keras.losses.BinaryCrossentropy(), "day": keras.losses.SparseCategoricalCrossentropy()},
        loss_weights={"geno": 1.0, "day": config.loss_w_day},
        metrics={"geno": _geno_metrics(), "day": [keras.metrics.SparseCategoricalAccuracy(name="acc")]},
        jit_compile=jit_compile,
    )
    return model


def build_model(n_genes: int, config: TrainConfig, jit_compile: bool | str = "auto") -> keras.Model:
    """Dispatch on config.model ("A" or "B")."""
    check_config(config)
    builder = build_model_a if config.model == "A" else build_model_b
    return builder(n_genes, config, jit_compile=jit_compile)
