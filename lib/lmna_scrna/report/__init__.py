"""The report, one package per job, each with a face of what notebooks and the CLI import:

* `runner`: the plan (profiles, sweeps, calibration batches), the ledger of what ran, execution on a
  process pool or Dask, and where a kernel's library messages go;
* `results`: every table, computed from finished runs (cell-level, library-level, calibration,
  attribution, the paper's own);
* `book`: the Jupyter Book (pages, the intro's findings and bottom line, navigation, training pages).

This package's own face is the base all three use, reading no file: `words` (columns in words, tables for
people), `names` (splits, runs and pages in words) and `numbers` (numbers in one format).

Imports point one way: runner → words/names/numbers → results → book.
"""

import lazy_loader

# Names load on first use, from the stub beside this file (__init__.pyi), which mypy and IDEs read as well.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
