"""What produced a result, in a form a lab can cite: packages, Python, OS, CPU, threads and the project's commit.

The same numbers from another TensorFlow, another BLAS or another CPU's
instruction set (AVX2 against AVX-512 kernels) can differ in their last bits,
and a timing means nothing without the machine it was measured on. So the
book's provenance page lists everything (`environment`: every installed
package), while each processed ``.h5ad`` and each run's ``config.json`` carry
the compact record (`compact`: the packages that shape their numbers, the
CPU, the thread budget and the commit), small enough to store with every file.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from . import threads
from .paths import PROJECT_ROOT

#: The packages whose versions shape this project's numbers, figures and book (distribution names).
KEY_PACKAGES: tuple[str, ...] = (
    "lmna-scrna", "tensorflow", "keras", "numpy", "scipy", "pandas", "scikit-learn", "anndata", "scanpy",
    "h5py", "matplotlib", "seaborn", "papermill", "jupyter-book", "myst-nb",
)
#: CPU flags that change which kernels TensorFlow and BLAS run (so the last bits of a result, and its speed).
CPU_FLAGS: tuple[str, ...] = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
#: What `commit` says where the project is not a git checkout (an installed wheel, a copied folder).
NO_CHECKOUT = "not a git checkout"
#: What `commit` appends when the working tree differs from its commit.
DIRTY = "uncommitted changes"


def packages() -> dict[str, str]:
    """Every installed distribution and its version, by lower-case name (sorted)."""
    found = {(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions()}
    return dict(sorted((name, version) for name, version in found.items() if name))


def key_packages(installed: dict[str, str] | None = None) -> dict[str, str]:
    """The versions of `KEY_PACKAGES` ("not installed" for a missing one, so the record says so)."""
    installed = packages() if installed is None else installed
    return {name: installed.get(name, "not installed") for name in KEY_PACKAGES}


@cache
def cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The CPU's model (with family and model numbers, which a bare "AMD EPYC" needs) and the flags that matter.

    Read from /proc/cpuinfo (Linux); elsewhere `platform.processor()` and no flags.
    """
    try:
        text = cpuinfo.read_text()
    except OSError:
        return {"model": platform.processor() or platform.machine() or "unknown", "flags": "unknown"}
    first: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        first.setdefault(key.strip(), value.strip())
    model = first.get("model name") or first.get("Model") or platform.machine() or "unknown"
    if "cpu family" in first and "model" in first:
        model += f" (family {first['cpu family']}, model {first['model']})"
    have = set(first.get("flags", first.get("Features", "")).split())
    return {"model": model, "flags": ", ".join(f for f in CPU_FLAGS if f in have) or "none of " + ", ".join(CPU_FLAGS)}


def vector_words(flags: str) -> str:
    """The widest vector instructions among `cpu`'s flags, as a timing's footnote names them ("AVX-512", "AVX2")."""
    have = set(flags.replace(",", " ").split())
    for flag, words in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX")):
        if flag in have:
            return words
    return "no AVX"


def commit(root: Path = PROJECT_ROOT) -> str:
    """The project's git commit; "<sha> + uncommitted changes" when the tree differs from it; else `NO_CHECKOUT`.

    Untracked files that git does not ignore count as changes: a new notebook
    or module changes what runs as much as an edited one.
    """
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)

    try:
        head = git("rev-parse", "HEAD")
    except OSError:  # no git on this machine
        return f"{NO_CHECKOUT} (git not installed)"
    if head.returncode != 0:
        return NO_CHECKOUT
    sha = head.stdout.strip()
    status = git("status", "--porcelain")
    if status.returncode != 0:
        return f"{sha} (status unknown: {status.stderr.strip()})"
    return f"{sha} + {DIRTY}" if status.stdout.strip() else sha


def machine() -> dict[str, Any]:
    """Python, OS, CPU model and flags, the cores this process may use and its thread budget (`threads`)."""
    processor = cpu()
    return {
        "python": sys.version.split()[0],
        "os": platform.platform(),
        "cpu": processor["model"],
        "cpu_flags": processor["flags"],
        "cores": threads.cores(),
        "threads": threads.budget(),
    }


def compact() -> dict[str, Any]:
    """What a processed file or a run records: the key packages' versions, the machine and the commit."""
    return {"packages": key_packages(), **machine(), "commit": commit()}


def environment() -> dict[str, Any]:
    """Everything the provenance page lists: `compact`, plus every installed package."""
    installed = packages()
    return {"packages": key_packages(installed), **machine(), "commit": commit(), "installed": installed}
