"""The face of `lmna_scrna.report.book`: the names it offers and the module of each (lazy_loader reads them at import,
mypy and IDEs read them as types). What the package is for: its `__init__.py`."""

from .build import build_book as build_book
from .calibration_words import (
    calibration_values as calibration_values,
    donors_values as donors_values,
    worlds_values as worlds_values,
)
from .claims import glue_words as glue_words
from .findings import comparison_values as comparison_values
from .run_page import (
    day_head_summary as day_head_summary,
    results_summary as results_summary,
    show_gsm_results as show_gsm_results,
    show_results as show_results,
    sweep_variant_summary as sweep_variant_summary,
    training_figures as training_figures,
    training_summary as training_summary,
)
