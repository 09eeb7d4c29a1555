"""The benchmarks' `--tiny` mode: a small simulation profile and network, so the same code paths run in seconds.

`tests/test_benchmarks.py` runs every benchmark with `--tiny`; the full modes
(`make bench`) use the report's own sizes.
"""

from __future__ import annotations

from pathlib import Path

from lmna_scrna.config import TrainConfig
from lmna_scrna.sim import params as sim_params, simulate

#: Name of the tiny simulation profile (added to `sim_params.SIM_SIZES` at run time, never shipped).
PROFILE = "bench_tiny"
#: The size `tests/test_calibration_replicate.py` uses: every split still has both genotypes after QC.
SIZE = sim_params.SimSize(n_cells=160, n_genes=1500, median_umis=4000.0)
#: A network that trains in a second per fold.
NETWORK = TrainConfig(width=16, depth=1, epochs=2, patience=2, batch_size=128)


def register() -> str:
    """Make the tiny profile known to the simulator in this process; return its name."""
    sim_params.SIM_SIZES.setdefault(PROFILE, SIZE)
    return PROFILE


def simulated(folder: Path) -> Path:
    """Tiny simulated 10x files of the 12 study libraries in `folder`."""
    return simulate(folder, size=register())
