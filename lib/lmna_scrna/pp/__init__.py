"""Preprocessing: the per-GSM pass (QC, subsample, normalise, cached), train-only HVGs and scaling,
split schemes, and the assembly of one split's processed .h5ad."""

from ..lazy import lazy_exports

# Loaded on first use: the CLI reads the split schemes without importing anndata.
__all__, __getattr__ = lazy_exports(__name__, {
    "FittedSplit": "assemble",
    "fit_split": "assemble",
    "load_processed": "assemble",
    "prepare_split": "assemble",
    "resolve_data_path": "assemble",
    "write_split": "assemble",
    "GeneStats": "genes",
    "fit_scaling": "genes",
    "gene_table": "genes",
    "select_hvg": "genes",
    "load_gsms": "gsm_pass",
    "process_counts": "gsm_pass",
    "subsample": "gsm_pass",
    "Split": "splits",
    "gsm_order": "splits",
    "leave_one_day_out": "splits",
    "make_split": "splits",
    "partition_table": "splits",
    "refuse_split_parameter": "splits",
    "scheme_splits": "splits",
    "split_identity": "splits",
    "split_name": "splits",
    "qc_summary": "summaries",
    "split_sizes": "summaries",
})
