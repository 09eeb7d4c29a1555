"""The face of `lmna_scrna.report.runner`: the names it offers and the module of each (lazy_loader reads them at import,
mypy and IDEs read them as types). What the package is for: its `__init__.py`."""

from .execute import (
    NotebookFailed as NotebookFailed,
    dry_run as dry_run,
    execute_profile as execute_profile,
    run_report as run_report,
)
from .ledger import load_ledger as load_ledger
from .lock import report_lock as report_lock
from .param_files import load_sweep as load_sweep, split_files as split_files, sweep_run_name as sweep_run_name
from .plan import load_profile as load_profile
from .quiet import notebook_logging as notebook_logging
