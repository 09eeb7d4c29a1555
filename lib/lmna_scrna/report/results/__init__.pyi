"""The face of `lmna_scrna.report.results`: the names it offers and the module of each (lazy_loader reads them at import,
mypy and IDEs read them as types). What the package is for: its `__init__.py`."""

from .attribution_tables import (
    attribution_summary as attribution_summary,
    attribution_table as attribution_table,
    attribution_words as attribution_words,
    top_genes as top_genes,
)
from .calibration_tables import (
    batch_table as batch_table,
    build_observation as build_observation,
    calibration_for_page as calibration_for_page,
    calibration_headline as calibration_headline,
    calibration_summary as calibration_summary,
    calibration_table as calibration_table,
    ground_truth as ground_truth,
    replicate_table as replicate_table,
    sensitivity_curve as sensitivity_curve,
)
from .compare_figures import (
    COMPARE_FIGURES as COMPARE_FIGURES,
    CompareFigure as CompareFigure,
    library_scores as library_scores,
)
from .donor_tables import (
    all_donor_results as all_donor_results,
    auc_by_design as auc_by_design,
    donor_days as donor_days,
    donor_summary as donor_summary,
    donors_for_page as donors_for_page,
    smallest_donors as smallest_donors,
)
from .library_tables import (
    POOLED as POOLED,
    gsm_inference as gsm_inference,
    gsm_level as gsm_level,
    library_calls as library_calls,
    negative_control as negative_control,
    paired_differences as paired_differences,
)
from .paper import (
    beside_paper as beside_paper,
    beside_paper_table2 as beside_paper_table2,
    paper_auc as paper_auc,
    paper_table1 as paper_table1,
    paper_table2 as paper_table2,
    protocol_words as protocol_words,
    sweep_paper_auc as sweep_paper_auc,
    table2_for_page as table2_for_page,
)
from .tables import (
    DAY_MATCHED_RUNG as DAY_MATCHED_RUNG,
    auc_figure_frames as auc_figure_frames,
    baseline_comparison as baseline_comparison,
    best_by_validation as best_by_validation,
    default_leakage_split as default_leakage_split,
    finished_run as finished_run,
    keras_auc_gap as keras_auc_gap,
    leakage_ladder as leakage_ladder,
    lodo_summary as lodo_summary,
    report_splits as report_splits,
    roc_curves as roc_curves,
    save_table as save_table,
    sweep_base as sweep_base,
    sweep_for_page as sweep_for_page,
    sweep_table as sweep_table,
    sweep_variant_config as sweep_variant_config,
    table1 as table1,
)
from .world_tables import (
    beside_worlds as beside_worlds,
    claims_for_page as claims_for_page,
    evaluation_labels as evaluation_labels,
    fit_evaluations as fit_evaluations,
    world_claims as world_claims,
    world_table1_long as world_table1_long,
    worlds_verdict as worlds_verdict,
)
