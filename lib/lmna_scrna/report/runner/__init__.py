"""Runner: profile → executions (`plan`), what ran, its keys and whether its results are still on disk
(`ledger`), which executions run and why (`why`), running them (`execute`, on the `executors`, one
`task` each), and a kernel's library messages in its log file (`quiet`)."""

from ...lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "NotebookFailed": "execute",
    "execute_profile": "execute",
    "run_report": "execute",
    "dry_run": "execute",
    "load_ledger": "ledger",
    "report_lock": "ledger",
    "load_profile": "plan",
    "load_sweep": "param_files",
    "sweep_run_name": "param_files",
    "split_files": "param_files",
    "notebook_logging": "quiet",
})
