"""Preprocessing: the per-GSM pass (QC, subsample, normalise, cached), train-only HVGs and scaling,
split schemes (`SCHEMES`, the one registry of them), and the assembly of one split's processed .h5ad.

Names load on first use: the CLI reads the split schemes without importing anndata.
"""

import lazy_loader

# Names load on first use, from the stub beside this file (__init__.pyi), which mypy and IDEs read as well.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
