"""The report: plan (profiles, sweeps), ledger, execution (process pool, Dask), tables, book."""

from .execute import NotebookFailed, execute_profile, run_report
from .ledger import load_ledger
from .plan import load_profile, load_sweep, sweep_run_name

__all__ = ["NotebookFailed", "execute_profile", "load_ledger", "load_profile", "load_sweep", "run_report", "sweep_run_name"]
