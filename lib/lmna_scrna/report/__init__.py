"""The report, one package per job, each with a face of what notebooks and the CLI import:

* `runner`: the plan (profiles, sweeps, calibration batches), the ledger of what ran, execution on a
  process pool or Dask, and where a kernel's library messages go;
* `results`: every table, computed from finished runs (cell-level, library-level, calibration,
  attribution, the paper's own);
* `book`: the Jupyter Book (pages, the intro's findings and bottom line, navigation, training pages);
* `labels`: the words for every code name, used by all three; `numbers`: numbers in one format, likewise.

Imports point one way: runner → labels → results → book.
"""
