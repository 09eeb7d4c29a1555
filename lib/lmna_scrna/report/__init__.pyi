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

from .names import (
    page_title as page_title,
    run_words as run_words,
    split_order as split_order,
    split_words as split_words,
)
from .numbers import (
    auc_interval_text as auc_interval_text,
    count_text as count_text,
    counted as counted,
    difference_interval_text as difference_interval_text,
    difference_text as difference_text,
)
from .words import LABELS as LABELS, Table as Table, for_people as for_people, label as label, show_table as show_table
