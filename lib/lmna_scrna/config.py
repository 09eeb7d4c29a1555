"""Parameter sets with the paper's defaults (§2.4, §2.5), shared by CLI, notebooks and caches.

Kept free of heavy imports so the CLI and papermill parameter files can use them cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
