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

Options of the paper's code, all off by default: ``widths`` gives each dense
layer its own width (then ``width`` and ``depth`` are not used); ``arch="cnn"``
puts one Conv1D block (``conv_filters`` filters of ``kernel_size`` genes,
BatchNorm, activation, MaxPool of ``pool_size``) over the gene vector before
the dense layers; ``optimizer="rmsprop"``; and ``loss_geno="mean_squared_error"``
trains the genotype head on the squared error of its sigmoid probability.
"""

from __future__ import annotations

from ..config import TrainConfig
from ..errors import InputError
from ..io.study import DAYS
from .backend import keras
from .fused import FusedAdam, FusedBatchNormalization


def check_config(config: TrainConfig) -> None:
    """Refuse unknown names and impossible numbers (`TrainConfig.check`) and bad code options, naming the field."""
    config.check()
    check_code_options(config)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_code_options(config: TrainConfig) -> None:
    """The options taken from the paper's code: per-layer widths, CNN sizes, threshold (names: `TrainConfig.check`)."""
    if not isinstance(config.widths, tuple) or not all(_positive_int(w) for w in config.widths):
        raise InputError(f"TrainConfig.widths={config.widths!r}: must be a list of integers >= 1 (empty = depth x width)")
    for name in ("conv_filters", "kernel_size", "pool_size"):
        if not _positive_int(getattr(config, name)):
            raise InputError(f"TrainConfig.{name}={getattr(config, name)!r}: must be an integer >= 1")
    t = config.threshold
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0):
        raise InputError(f"TrainConfig.threshold={t!r}: must be a probability in [0, 1], or None (Youden's J on validation)")


def layer_widths(config: TrainConfig) -> tuple[int, ...]:
    """Width of each dense layer of the backbone: ``widths`` when given, else ``depth`` x ``width``."""
    return config.widths or (config.width,) * config.depth


def _conv_block(inputs: keras.KerasTensor, config: TrainConfig) -> keras.KerasTensor:
    """The paper code's CNN front: genes as a 1-D sequence, one Conv1D -> BatchNorm -> Activation -> MaxPool.

    The HVG order (by variance) has no spatial meaning, so a kernel sees
    neighbours in that list, not in the genome; it is offered to re-run the code's options.
    """
    n_genes = inputs.shape[-1]
    if config.pool_size > n_genes:
        raise InputError(f"TrainConfig.pool_size={config.pool_size}: larger than the {n_genes} input genes")
    x = keras.layers.Reshape((n_genes, 1), name="genes_as_sequence")(inputs)
    x = keras.layers.Conv1D(config.conv_filters, config.kernel_size, padding="same", use_bias=False, name="conv")(x)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.Activation(config.activation, name="conv_act")(x)
    x = keras.layers.MaxPooling1D(config.pool_size, name="conv_pool")(x)
    return keras.layers.Flatten(name="conv_flat")(x)


def build_backbone(inputs: keras.KerasTensor, config: TrainConfig) -> keras.KerasTensor:
    """The shared trunk (after the conv block for ``arch="cnn"``). Dense has no bias: the BatchNorm after it adds one.

    The batch norm is Keras's, as one kernel in training (`FusedBatchNormalization`: float32 rounding apart).
    """
    x = _conv_block(inputs, config) if config.arch == "cnn" else inputs
    for i, units in enumerate(layer_widths(config)):
        x = keras.layers.Dense(units, use_bias=False, name=f"dense_{i}")(x)
        x = FusedBatchNormalization(name=f"bn_{i}")(x)
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
    """Adam, SGD with the configured momentum (the paper's sweep compares the two), or RMSprop (Keras defaults).

    Adam is `FusedAdam`: Keras's Adam as one kernel per variable (see `fused` for its one rounding difference).
    """
    if config.optimizer == "adam":
        return FusedAdam(learning_rate=config.lr)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=config.lr)
    return keras.optimizers.SGD(learning_rate=config.lr, momentum=config.momentum)


def _geno_loss(config: TrainConfig) -> keras.losses.Loss:
    """Binary cross-entropy, or the paper code's option: mean squared error of the sigmoid probability."""
    if config.loss_geno == "mean_squared_error":
        return keras.losses.MeanSquaredError()
    return keras.losses.BinaryCrossentropy()


def _geno_metrics() -> list[keras.metrics.Metric]:
    # Named "auc" so the logged key is val_geno_auc, which early stopping monitors.
    return [keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="acc")]


#: Training steps per call into TensorFlow: one Python round trip per 64 batches instead of per batch.
#: The same steps in the same order (identical weights); on 2 cores, with another job beside it,
#: an epoch of 24,000 cells took 0.90-0.98 s instead of 1.45-1.56 s.
STEPS_PER_EXECUTION = 64


def build_model_a(n_genes: int, config: TrainConfig, jit_compile: bool | str = "auto") -> keras.Model:
    """Model A: backbone + sigmoid genotype head, binary cross-entropy (or `loss_geno`); compiled."""
    check_config(config)
    inputs = keras.Input(shape=(n_genes,), name="expression")
    geno = _geno_head(_head_input(build_backbone(inputs, config), config))
    model = keras.Model(inputs, {"geno": geno}, name="model_A")
    model.compile(
        optimizer=make_optimizer(config),
        loss={"geno": _geno_loss(config)},
        metrics={"geno": _geno_metrics()},
        jit_compile=jit_compile,
        steps_per_execution=STEPS_PER_EXECUTION,
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
        loss={"geno": _geno_loss(config), "day": keras.losses.SparseCategoricalCrossentropy()},
        loss_weights={"geno": 1.0, "day": config.loss_w_day},
        metrics={"geno": _geno_metrics(), "day": [keras.metrics.SparseCategoricalAccuracy(name="acc")]},
        jit_compile=jit_compile,
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def build_model(n_genes: int, config: TrainConfig, jit_compile: bool | str = "auto") -> keras.Model:
    """Dispatch on config.model ("A" or "B")."""
    check_config(config)
    builder = build_model_a if config.model == "A" else build_model_b
    return builder(n_genes, config, jit_compile=jit_compile)
