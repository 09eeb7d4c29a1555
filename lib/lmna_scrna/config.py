"""Parameter sets with the paper's defaults (§2.4, §2.5), shared by CLI, notebooks and caches.

Kept free of heavy imports so the CLI and papermill parameter files can use them cheaply.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any

from .errors import InputError

#: The 10x matrix sets a GSM may be read from (`io.layouts.MatrixKind`; this base module imports nothing above it).
MATRIX_KINDS: tuple[str, ...] = ("filtered", "raw")
#: The names each named field of `TrainConfig` may take: checked by `TrainConfig.check`, listed by `train --help`.
TRAIN_CHOICES: dict[str, tuple[str, ...]] = {
    "model": ("A", "B"),
    "activation": ("relu", "tanh", "gelu", "elu", "selu", "swish", "sigmoid", "leaky_relu"),
    "optimizer": ("adam", "sgd", "rmsprop"),
    "arch": ("mlp", "cnn"),
    "loss_geno": ("binary_crossentropy", "mean_squared_error"),
}
#: Seeds go to NumPy's and TensorFlow's generators, which take 32-bit unsigned seeds.
MAX_SEED = 2**32 - 1


def check_seed(value: object, name: str) -> int:
    """`value` as a seed, or InputError naming `name`: an integer in [0, MAX_SEED] (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) <= MAX_SEED:
        raise InputError(f"{name}={value!r}: must be an integer in [0, {MAX_SEED}]")
    return int(value)


def check_seeds(seeds: object) -> list[int]:
    """Training seeds as a list: at least one, each a seed, none twice (a repeat trains the same network again)."""
    values = [check_seed(s, "seeds") for s in seeds]  # type: ignore[attr-defined]
    if not values:
        raise InputError("seeds: at least one seed is needed")
    repeated = sorted({s for s in values if values.count(s) > 1})
    if repeated:
        raise InputError(f"seeds: {', '.join(map(str, repeated))} given more than once; each seed trains one network")
    return values


def _check_types(params: object) -> None:
    """Numeric fields must hold numbers: integers where the default is an int (a bool is neither)."""
    for field in dataclasses.fields(params):  # type: ignore[arg-type]
        value, kind = getattr(params, field.name), type(field.default)
        if kind not in (int, float):  # names and lists are checked where their choices are known
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if kind is int else numbers.Real):
            meaning = "an integer" if kind is int else "a number"
            raise InputError(f"{type(params).__name__}.{field.name}={value!r}: must be {meaning}")


def _check_rules(params: object, rules: tuple[tuple[str, bool, str], ...]) -> None:
    """Raise for the first (field, holds, meaning) rule that does not hold; NaN fails every comparison."""
    for name, ok, meaning in rules:
        if not ok:
            raise InputError(f"{type(params).__name__}.{name}={getattr(params, name)!r}: must be {meaning}")


@dataclass(frozen=True)
class PrepParams:
    """Preprocessing: QC, subsampling, normalisation, HVG selection, scaling."""

    seed: int = 42
    min_genes: int = 200
    max_genes: int = 6000
    max_pct_mt: float = 20.0
    max_cells: int = 3000
    target_sum: float = 1e4
    min_cells_per_gene: int = 10
    n_hvg: int = 1000
    clip: float = 10.0
    matrix_kind: str = "filtered"  # which 10x matrix set to read per GSM: filtered | raw (the paper code's --kind)
    hvg_flavor: str = "variance"  # how HVGs are ranked: a key of `pp.genes.HVG_FLAVORS` (checked there)

    def check(self) -> None:
        """Refuse parameters that would write a NaN, empty or constant .h5ad, naming the parameter at fault."""
        _check_types(self)
        check_seed(self.seed, "PrepParams.seed")
        if self.matrix_kind not in MATRIX_KINDS:
            raise InputError(f"PrepParams.matrix_kind={self.matrix_kind!r}: must be one of {', '.join(MATRIX_KINDS)}")
        _check_rules(self, (
            ("min_genes", self.min_genes >= 0, ">= 0"),
            ("min_genes", self.min_genes <= self.max_genes, f"<= PrepParams.max_genes ({self.max_genes})"),
            ("max_pct_mt", 0 <= self.max_pct_mt <= 100, "in [0, 100]"),
            ("max_cells", self.max_cells >= 1, ">= 1"),
            ("target_sum", 0 < self.target_sum < math.inf, "finite and > 0"),
            ("min_cells_per_gene", self.min_cells_per_gene >= 0, ">= 0"),
            ("n_hvg", self.n_hvg >= 1, ">= 1"),
            ("clip", self.clip > 0, "> 0"),
        ))

    def to_dict(self) -> dict[str, Any]:
        """The fields as recorded in a processed split and hashed into its fingerprint; a field of
        `RECORDED_UNLESS_DEFAULT` is left out at its default, so splits prepared before it existed keep theirs."""
        defaults = PrepParams()
        return {k: v for k, v in asdict(self).items()
                if k not in RECORDED_UNLESS_DEFAULT or v != getattr(defaults, k)}


#: PrepParams fields added after splits were first fingerprinted: recorded only when not at their default.
RECORDED_UNLESS_DEFAULT: frozenset[str] = frozenset({"hvg_flavor"})


@dataclass(frozen=True)
class TrainConfig:
    """Network and optimiser hyperparameters of Models A and B."""

    model: str = "A"
    width: int = 512
    depth: int = 2
    dropout: float = 0.3
    activation: str = "relu"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    batch_size: int = 256
    epochs: int = 40
    patience: int = 8
    loss_w_day: float = 0.3
    head_width: int = 0  # the paper's code adds Dense(width // 2) before the heads; its text does not
    seed: int = 42
    # Options of the paper's code (checked in tl.models.check_config):
    arch: str = "mlp"  # mlp | cnn (a Conv1D block over the genes before the dense layers)
    widths: tuple[int, ...] = ()  # per-layer widths of the dense layers; () = depth x width
    conv_filters: int = 32  # cnn only
    kernel_size: int = 5  # cnn only
    pool_size: int = 2  # cnn only
    loss_geno: str = "binary_crossentropy"  # or mean_squared_error (on the sigmoid probability)
    threshold: float | None = None  # fixed evaluation threshold; None = Youden's J on validation

    def __post_init__(self) -> None:
        if isinstance(self.widths, (list, tuple)):  # YAML and JSON give lists: keep a hashable, comparable tuple
            object.__setattr__(self, "widths", tuple(self.widths))

    def check(self) -> None:
        """Refuse unknown names, and sizes and rates TensorFlow would take and fail on (or train to NaN with),
        naming the field, before any data are loaded (any other name fails deep inside Keras)."""
        for name, choices in TRAIN_CHOICES.items():
            if getattr(self, name) not in choices:
                raise InputError(f"TrainConfig.{name}={getattr(self, name)!r}: expected one of {', '.join(choices)}")
        _check_types(self)
        check_seed(self.seed, "TrainConfig.seed")
        _check_rules(self, (
            ("width", self.width >= 1, ">= 1"),
            ("depth", self.depth >= 1, ">= 1"),
            ("dropout", 0 <= self.dropout < 1, "in [0, 1)"),
            ("lr", 0 < self.lr < math.inf, "finite and > 0"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("epochs", self.epochs >= 1, ">= 1"),
            ("patience", self.patience >= 0, ">= 0"),
            ("loss_w_day", 0 <= self.loss_w_day < math.inf, "finite and >= 0"),
            ("head_width", self.head_width >= 0, ">= 0 (0 = no extra layer)"),
        ))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
