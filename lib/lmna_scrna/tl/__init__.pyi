"""Tools: Keras models A and B, training, evaluation, the linear baseline, the run folder, embeddings,
the calibration and the library-level inference.

Names load on first use, so reading runs or metrics does not start TensorFlow.
"""

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
