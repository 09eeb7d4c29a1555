"""Package faces whose names load on first use.

A notebook that reads tables should not start TensorFlow, nor one that logs
start papermill: each package's ``__init__`` names what it offers and where
it lives, and the module is imported only when a name is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]) -> tuple[list[str], Callable[[str], Any]]:
    """``__all__`` and a module ``__getattr__`` for `package`: name → the submodule that defines it.

    A name that is its own home (``"tables": "tables"``) is the submodule itself.
    """

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = import_module(f".{homes[name]}", package)
        return module if homes[name] == name else getattr(module, name)

    return sorted(homes), __getattr__
