"""Plotting: every figure of the report, in one style (`set_style`, called by each notebook: never on import)."""

from .calibration import plot_claim_rates, plot_sensitivity
from .design import (
    design_grid,
    embedding_plot,
    partition_grid,
    variance_explained_plot,
)
from .evaluation import plot_auc_by_split, plot_library_contrasts, plot_sweep_auc
from .qc import hvg_plot, qc_violins, split_size_plot
from .style import DAY_COLORS, GENOTYPE_COLORS, MODEL_COLORS, PARTITION_COLORS, save_figure, set_style
from .training import plot_confusion, plot_gsm_probability, plot_history, plot_roc, plot_roc_curves, seed_figures
from .worlds import plot_donor_claims, plot_world_fit, plot_worlds_beside_paper

__all__ = [
    "DAY_COLORS",
    "GENOTYPE_COLORS",
    "MODEL_COLORS",
    "PARTITION_COLORS",
    "design_grid",
    "embedding_plot",
    "hvg_plot",
    "plot_auc_by_split",
    "plot_library_contrasts",
    "plot_claim_rates",
    "plot_sensitivity",
    "partition_grid",
    "plot_confusion",
    "plot_donor_claims",
    "plot_gsm_probability",
    "plot_history",
    "plot_roc",
    "plot_roc_curves",
    "plot_sweep_auc",
    "plot_world_fit",
    "plot_worlds_beside_paper",
    "qc_violins",
    "save_figure",
    "set_style",
    "seed_figures",
    "split_size_plot",
    "variance_explained_plot",
]
