"""The face of `lmna_scrna.io`: the names it offers and the module of each (lazy_loader reads them at import,
mypy and IDEs read them as types). What the package is for: its `__init__.py`."""

from .digests import file_fingerprint as file_fingerprint
from .extract import safe_extract as safe_extract
from .geo import download as download, fetch_raw as fetch_raw
from .layouts import find_gsm_files as find_gsm_files
from .raw_folder import inspect_dir as inspect_dir
from .study import (
    days_with_both_genotypes as days_with_both_genotypes,
    gsm_number as gsm_number,
    load_samples as load_samples,
)
from .tenx import read_gsm as read_gsm
