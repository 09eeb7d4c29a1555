"""Data in: the study sheet, 10x readers, the GEO download with safe extraction (the simulator is `lmna_scrna.sim`)."""

from .extract import safe_extract
from .geo import download, fetch_raw
from .layouts import find_gsm_files
from .raw_folder import file_fingerprint, inspect_dir
from .study import days_with_both_genotypes, gsm_number, load_samples
from .tenx import read_gsm

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
    "safe_extract",
]
