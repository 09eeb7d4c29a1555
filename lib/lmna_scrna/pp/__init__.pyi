"""The face of `lmna_scrna.pp`: the names it offers and the module of each (lazy_loader reads them at import,
mypy and IDEs read them as types). What the package is for: its `__init__.py`."""

from .assemble import (
    FittedSplit as FittedSplit,
    fit_split as fit_split,
    load_processed as load_processed,
    prepare_split as prepare_split,
    write_split as write_split,
)
from .genes import (
    HVG_FLAVORS as HVG_FLAVORS,
    GeneStats as GeneStats,
    fit_scaling as fit_scaling,
    gene_table as gene_table,
    select_hvg as select_hvg,
)
from .gsm_pass import load_gsms as load_gsms, process_counts as process_counts, subsample as subsample
from .splits import (
    SCHEMES as SCHEMES,
    Split as Split,
    gsm_order as gsm_order,
    identity_of_name as identity_of_name,
    leave_one_day_out as leave_one_day_out,
    make_split as make_split,
    partition_table as partition_table,
    refuse_split_parameter as refuse_split_parameter,
    scheme_splits as scheme_splits,
    split_identity as split_identity,
    split_name as split_name,
)
from .summaries import qc_summary as qc_summary, split_sizes as split_sizes
