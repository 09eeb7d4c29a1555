"""The face of `lmna_scrna.report`: the names it offers and the module of each (lazy_loader reads them at import,
mypy and IDEs read them as types). What the package is for: its `__init__.py`."""

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
