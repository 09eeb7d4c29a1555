"""The face of `lmna_scrna.pl`: the names it offers and the module of each (lazy_loader reads them at import,
mypy and IDEs read them as types). What the package is for: its `__init__.py`."""

from .calibration import plot_claim_rates as plot_claim_rates, plot_sensitivity as plot_sensitivity
from .design import (
    design_grid as design_grid,
    embedding_plot as embedding_plot,
    partition_grid as partition_grid,
    variance_explained_plot as variance_explained_plot,
)
from .evaluation import (
    plot_auc_by_split as plot_auc_by_split,
    plot_library_contrasts as plot_library_contrasts,
    plot_library_scores as plot_library_scores,
    plot_sweep_auc as plot_sweep_auc,
)
from .qc import hvg_plot as hvg_plot, qc_violins as qc_violins, split_size_plot as split_size_plot
from .style import (
    DAY_COLORS as DAY_COLORS,
    GENOTYPE_COLORS as GENOTYPE_COLORS,
    MODEL_COLORS as MODEL_COLORS,
    PARTITION_COLORS as PARTITION_COLORS,
    save_figure as save_figure,
    set_style as set_style,
)
from .training import (
    plot_confusion as plot_confusion,
    plot_gsm_probability as plot_gsm_probability,
    plot_history as plot_history,
    plot_roc as plot_roc,
    plot_roc_curves as plot_roc_curves,
    seed_figures as seed_figures,
)
from .worlds import (
    plot_donor_claims as plot_donor_claims,
    plot_world_fit as plot_world_fit,
    plot_worlds_beside_paper as plot_worlds_beside_paper,
)
