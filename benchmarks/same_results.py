"""Do two report builds give the same results? Compare their tables and per-seed metrics.

Usage: python benchmarks/same_results.py OLD_OUTPUTS NEW_OUTPUTS

Each argument is an outputs folder (LMNA_OUTPUTS) of a report built with the
same profile, data and seeds, e.g. before and after a refactor. Every
``tables/*.csv`` must be byte-identical, and every run's
``seed_*/metrics.json`` and ``baseline/metrics.json`` equal except for wall
times (``train_seconds``). Prints one line per file and exits 1 on any
difference. Too slow for the test suite (it needs two smoke reports).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: Metrics that measure the machine, not the result.
TIMINGS = frozenset({"train_seconds"})


def _metrics(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k not in TIMINGS}


def compare(old: Path, new: Path) -> list[str]:
    """The relative paths whose content differs (or exists on one side only)."""
    differ = []
    pairs = [(p.relative_to(old), "bytes") for p in sorted((old / "tables").glob("*.csv"))]
    pairs += [(p.relative_to(old), "metrics") for p in sorted((old / "runs").glob("*/*/metrics.json"))]
    new_files = {p.relative_to(new) for p in (new / "tables").glob("*.csv")}
    new_files |= {p.relative_to(new) for p in (new / "runs").glob("*/*/metrics.json")}
    for rel, kind in pairs:
        if not (new / rel).is_file():
            status = "missing in new"
        elif kind == "bytes":
            status = "identical" if (old / rel).read_bytes() == (new / rel).read_bytes() else "DIFFERS"
        else:
            status = "identical" if _metrics(old / rel) == _metrics(new / rel) else "DIFFERS"
        print(f"{status:>15}  {rel}")
        if status != "identical":
            differ.append(str(rel))
    for rel in sorted(new_files - {rel for rel, _ in pairs}):
        print(f"{'only in new':>15}  {rel}")
    return differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    differ = compare(args.old, args.new)
    total = len(list((args.old / "tables").glob("*.csv"))) + len(list((args.old / "runs").glob("*/*/metrics.json")))
    print(f"{total - len(differ)} of {total} files identical" + (f"; differing: {', '.join(differ)}" if differ else ""))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
