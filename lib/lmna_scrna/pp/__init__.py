"""Preprocessing: the per-GSM pass (QC, subsample, normalise, cached), train-only HVGs and scaling,
split schemes, and the assembly of one split's processed .h5ad."""

from .assemble import FittedSplit, fit_split, load_processed, prepare_split, resolve_data_path, write_split
from .genes import GeneStats, fit_scaling, gene_table, select_hvg
from .gsm_pass import load_gsms, process_counts, subsample
from .splits import Split, gsm_order, leave_one_day_out, make_split, partition_table, split_identity, split_name
from .summaries import qc_summary, split_sizes

__all__ = [
    "FittedSplit",
    "GeneStats",
    "Split",
    "fit_scaling",
    "fit_split",
    "gene_table",
    "gsm_order",
    "leave_one_day_out",
    "load_gsms",
    "load_processed",
    "make_split",
    "partition_table",
    "prepare_split",
    "process_counts",
    "qc_summary",
    "resolve_data_path",
    "select_hvg",
    "split_identity",
    "split_name",
    "split_sizes",
    "subsample",
    "write_split",
]
