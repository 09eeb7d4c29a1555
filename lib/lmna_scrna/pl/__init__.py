"""Plotting: every figure of the report, in one style (`set_style`, called by each notebook: never on import).

Plotting only draws: what a figure shows is computed by `tl` or `report.results`.
"""

import lazy_loader

# Names load on first use, from the stub beside this file (__init__.pyi), which mypy and IDEs read as well.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
