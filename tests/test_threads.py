"""Every thread pool a prepare process starts stays inside its thread budget (`lmna_scrna.threads`)."""

from __future__ import annotations

import os
import subprocess
import sys

from lmna_scrna.paths import PROJECT_ROOT

#: Prints scipy's MatrixMarket reader's thread count inside `reader_threads`, in a process that has not read yet.
READER_THREADS = (
    "from threadpoolctl import threadpool_info\n"
    "from lmna_scrna.threads import reader_threads\n"
    "with reader_threads():\n"
    "    print(*[p['num_threads'] for p in threadpool_info() if p['internal_api'] == 'scipy_mmio'])\n"
)


def python(code: str, **env: str) -> str:
    """Stdout of a fresh interpreter on this checkout's package (a fresh one: the reader loads lazily)."""
    full = {**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT / "lib")}
    result = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_the_matrix_reader_uses_the_budget_from_its_first_read() -> None:
    assert python(READER_THREADS, LMNA_THREADS="1") == "1"  # 0 (a thread per core) before the fix
    assert python(READER_THREADS, LMNA_THREADS="2") == "2"


def test_a_parse_worker_gets_its_share_of_the_parents_budget() -> None:
    start = "import os\nfrom lmna_scrna.pp.gsm_pass import _start_worker\n_start_worker(os.getppid(), 1)\n"
    assert python(start + READER_THREADS, LMNA_THREADS="2") == "1"
