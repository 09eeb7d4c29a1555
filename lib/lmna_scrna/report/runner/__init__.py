"""Runner: profile → executions (`plan`), what ran, its keys and whether its results are still on disk
(`ledger`), which executions run and why (`why`), running them (`execute`, on the `executors`, one
`task` each), and a kernel's library messages in its log file (`quiet`)."""

import lazy_loader

# Names load on first use, from the stub beside this file (__init__.pyi), which mypy and IDEs read as well.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
