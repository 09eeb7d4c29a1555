"""Results: every table the report shows, computed from finished runs (none typed in).

`tables` (cell-level: Table 1, folds, the ladder, baselines, sweeps), `library_tables` (library-level
calls and tests), `calibration_tables`, `world_tables` (the paper beside the
fitted worlds), `attribution_tables`, `paper` (the paper's own numbers).
"""

from ...lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "tables": "tables",
    "library_tables": "library_tables",
    "calibration_tables": "calibration_tables",
    "attribution_tables": "attribution_tables",
    "world_tables": "world_tables",
    "donor_tables": "donor_tables",
    "paper": "paper",
    "save_table": "tables",
    "batch_table": "calibration_tables",
    "replicate_table": "calibration_tables",
})
