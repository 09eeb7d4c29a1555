"""The book's navigation in reading order: the hand-written ``book/_toc.yml``, each glob of executed pages
expanded into its pages, ordered by what they are about rather than by file name.

A glob such as ``notebooks/train_A_*`` matched by Sphinx sorts by file name:
"test day 16" before "test day 9", and the paper's original split between
them. Here the pages of a glob that have a split are ordered by the split
(`names.split_order`: the original split, the day-matched folds by held-out
day, cells at random last); pages without one keep the profile's order.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import yaml

from ...atomic import write_text_atomic
from ..names import split_order

#: Where the expanded table of contents is written (in the generated folder; `jupyter-book build --toc`).
TOC_NAME = "_toc.yml"


def expand(entries: list[Any], report: dict[str, Any], ledger: dict[str, Any]) -> list[Any]:
    """Entries of a toc list with every ``glob`` of executed pages replaced by their ``file`` entries, in order."""
    ids = [i for i in report["executions"] if i in ledger]
    out: list[Any] = []
    for entry in entries:
        if isinstance(entry, dict) and set(entry) == {"glob"}:
            matched = [i for i in ids if fnmatch.fnmatch(f"notebooks/{i}", entry["glob"])]
            matched.sort(key=lambda i: split_order(ledger[i].get("split")))  # stable: ties keep the profile's order
            out += [{"file": f"notebooks/{i}"} for i in matched] or [entry]  # none ran: the glob as written
        elif isinstance(entry, dict):
            out.append({k: expand(v, report, ledger) if k in ("parts", "chapters", "sections") else v
                        for k, v in entry.items()})
        else:
            out.append(entry)
    return out


def write_toc(book_dir: Path, report: dict[str, Any], ledger: dict[str, Any]) -> Path | None:
    """Write the expanded toc into ``book_dir/generated``; its path, or None for a book without ``_toc.yml``
    (whose build then gets no stale one)."""
    template = book_dir / TOC_NAME
    if not template.is_file():
        (book_dir / "generated" / TOC_NAME).unlink(missing_ok=True)
        return None
    toc = expand([yaml.safe_load(template.read_text())], report, ledger)[0]
    return write_text_atomic(book_dir / "generated" / TOC_NAME,
                             "# Generated from ../_toc.yml by lmna_scrna.report.book.navigation: do not edit.\n"
                             + yaml.safe_dump(toc, sort_keys=False, allow_unicode=True))
