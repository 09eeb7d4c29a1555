"""Every benchmark's `--tiny` mode runs as `make bench` runs the full one (a fresh interpreter on the
script) and prints its table: each expected row with its figure, reference and target, so the
benchmarks cannot rot unseen. Timings are not checked; they measure overheads at this size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each runs a benchmark's tiny mode in a child process

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

#: Per script: the header's cells and the labels of the rows that carry a target.
TABLES = {
    "bench_prepare.py": (
        ("measured", "value", "reference", "value", "ratio", "target", "pass"),
        ("six splits, cold cache (s)", "six splits, largest process (MB)", "peak RSS, one split of 12 GSMs (MB)",
         "peak RSS, six splits (MB)"),
    ),
    "bench_train.py": (
        ("quantity", "measured", "reference", "ratio", "target"),
        ("train.py pipeline (deterministic): training GFLOP/s vs batch matmul",
         "XLA, no op determinism (not used): training GFLOP/s vs batch matmul"),
    ),
    "bench_worlds_cost.py": (
        ("quantity", "measured", "reference", "ratio", "target", "pass"),
        ("added wall time at 2 jobs (min) vs budget",),
    ),
    "bench_replicates.py": (
        ("quantity", "measured", "reference", "ratio", "target", "pass"),
        ("(c) s per replicate, filed protocol: now vs the issue's record", "(c) same, now vs the old path on today's library",
         "(a) s per replicate: new (in memory, one process) vs old",
         "(a) fold test AUCs, new vs old, same replicates",
         "(b) threads budgeted to 2 jobs: after vs before", "(b) wall s of 2 jobs: after vs before"),
    ),
}


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("|")]


@pytest.mark.parametrize("script", sorted(TABLES))
def test_tiny_mode_runs_and_prints_figure_reference_and_target(script, tmp_path):
    env = {**os.environ, "LMNA_OUTPUTS": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), "--tiny"], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, labels = TABLES[script]
    lines = proc.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.replace("|", " ").split() == list(header)), None)
    assert start is not None, f"no table header {header} in:\n{proc.stdout}"
    columns = _cells(lines[start])
    target = next(i for i, cell in enumerate(columns) if cell == "target")
    rows = [_cells(line) for line in lines[start + 1:] if "|" in line]
    for label in labels:
        row = next((cells for cells in rows if cells[0].startswith(label)), None)
        assert row is not None, f"row {label!r} missing from:\n{proc.stdout}"
        assert len(row) == len(columns) and all(row[: target + 1]), f"row {label!r} lacks a figure, reference or target"
