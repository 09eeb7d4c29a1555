"""The face of `lmna_scrna.tl`: the names it offers and the module of each (lazy_loader reads them at import,
mypy and IDEs read them as types). What the package is for: its `__init__.py`."""

from .baseline import fit_baseline as fit_baseline
from .calibration_design import load_design as load_design
from .calibration_match import matched_effects as matched_effects
from .embedding import (
    embed_train_fitted as embed_train_fitted,
    subsample_cells as subsample_cells,
    variance_explained as variance_explained,
)
from .evaluate import (
    confusion_counts as confusion_counts,
    genotype_metrics as genotype_metrics,
    roc_points as roc_points,
    summarise as summarise,
)
from .inference import RULE as RULE
from .models import build_model as build_model
from .replicate_batch import run_batch as run_batch
from .runs import load_run as load_run, run_name as run_name
from .train import train_run as train_run
