"""Data in: the study sheet, 10x readers, the GEO download with safe extraction, the simulator."""

from .geo import download, fetch_raw, safe_extract
from .simulate import resolve_raw_dir, simulate
from .study import days_with_both_genotypes, gsm_number, load_samples
from .tenx import file_fingerprint, find_gsm_files, inspect_dir, read_gsm

__all__ = [
    "days_with_both_genotypes",
    "download",
    "fetch_raw",
    "file_fingerprint",
    "find_gsm_files",
    "gsm_number",
    "inspect_dir",
    "load_samples",
    "read_gsm",
    "resolve_raw_dir",
    "safe_extract",
    "simulate",
]
