"""Results: every table the report shows, computed from finished runs (none typed in).

`tables` (cell-level: Table 1, folds, the ladder, baselines, sweeps), `library_tables` (library-level
calls and tests), `calibration_tables`, `world_tables` (the paper beside the
fitted worlds), `attribution_tables`, `paper` (the paper's own numbers).
"""

import lazy_loader

# Names load on first use, from the stub beside this file (__init__.pyi), which mypy and IDEs read as well.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
