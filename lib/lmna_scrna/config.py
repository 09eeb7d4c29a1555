"""Parameter sets with the paper's defaults (§2.4, §2.5), shared by CLI, notebooks and caches.

Kept free of heavy imports so the CLI and papermill parameter files can use them cheaply.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any

from .errors import InputError

#: The 10x matrix sets a GSM may be read from (as `io.layouts.KINDS`; this base module imports nothing above it).
MATRIX_KINDS: tuple[str, ...] = ("filtered", "raw")


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

    def check(self) -> None:
        """Refuse parameters that would write a NaN, empty or constant .h5ad, naming the parameter at fault."""
        for name, value in self.to_dict().items():
            kind = type(PrepParams.__dataclass_fields__[name].default)
            if kind is str:
                if value not in MATRIX_KINDS:
                    raise InputError(f"PrepParams.{name}={value!r}: must be one of {', '.join(MATRIX_KINDS)}")
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral if kind is int else numbers.Real):
                raise InputError(f"PrepParams.{name}={value!r}: must be {'an integer' if kind is int else 'a number'}")
        rules = (
            ("seed", self.seed >= 0, ">= 0"),
            ("min_genes", self.min_genes >= 0, ">= 0"),
            ("max_genes", self.max_genes >= self.min_genes, f">= min_genes ({self.min_genes})"),
            ("max_pct_mt", 0 <= self.max_pct_mt <= 100, "in [0, 100]"),
            ("max_cells", self.max_cells >= 1, ">= 1"),
            ("target_sum", 0 < self.target_sum < math.inf, "finite and > 0"),
            ("min_cells_per_gene", self.min_cells_per_gene >= 0, ">= 0"),
            ("n_hvg", self.n_hvg >= 1, ">= 1"),
            ("clip", self.clip > 0, "> 0"),
        )
        for name, ok, meaning in rules:
            if not ok:  # comparisons with NaN are False, so NaN fails every rule
                raise InputError(f"PrepParams.{name}={getattr(self, name)!r}: must be {meaning}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
