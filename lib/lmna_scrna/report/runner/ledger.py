"""What ran: content keys of executions and the ledger of their last successes.

An execution's key hashes its notebook, its parameters, the parameter files it
reads, a context (the library's source, the data's fingerprint, the version)
and the keys of the executions it depends on, so a change anywhere upstream
changes every key downstream. The ledger (``outputs/notebooks/ledger.json``)
records the key of each execution's last success; an execution whose key is
unchanged and whose executed notebook exists is fresh and is not run again.
The book reads the ledger without importing the executor.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ...atomic import write_text_atomic
from ...errors import InputError
from ...paths import default_sheet_path, outputs_dir
from .plan import Profile

#: The package's source folder: every notebook calls into it, so it is an input of every execution.
LIBRARY_DIR = Path(__file__).resolve().parents[2]


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def library_fingerprint() -> str:
    """Hash of the package's source: notebooks are thin, so the library is an input of every one."""
    digest = hashlib.sha256()
    for source in sorted(LIBRARY_DIR.rglob("*.py")):
        digest.update(source.relative_to(LIBRARY_DIR).as_posix().encode() + b"\0")
        digest.update(source.read_bytes())
    return digest.hexdigest()


def data_fingerprint(data_dir: Path) -> str:
    """Identity of the raw data and the sample sheet (cheap: io.raw_folder.file_fingerprint of each file)."""
    from ...io.raw_folder import file_fingerprint

    files = sorted(p for p in Path(data_dir).rglob("*") if p.is_file())
    if not files:
        raise InputError(f"raw-data folder {data_dir} is empty or does not exist")
    return file_fingerprint([*files, default_sheet_path()])


def execution_keys(profile: Profile, context: str) -> dict[str, str]:
    """Key of every execution: its own inputs plus its dependencies' keys (so changes propagate)."""
    keys: dict[str, str] = {}
    for e in profile.executions:
        payload = {
            "notebook": _sha256_file(e.notebook),
            "parameters": {k: v for k, v in e.parameters.items() if not k.endswith("_file")},
            "files": sorted(_sha256_file(f) for f in e.files),
            "after": {a: keys[a] for a in sorted(e.after)},
            "context": context,
        }
        keys[e.id] = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return keys


def notebooks_out_dir() -> Path:
    """Executed notebooks: outputs/notebooks/<id>.ipynb (the book copies them from here)."""
    return outputs_dir() / "notebooks"


def ledger_path() -> Path:
    return notebooks_out_dir() / "ledger.json"


def load_ledger() -> dict[str, Any]:
    """The record of past successes: {"executions": {id: {...}}, "report": {last report run}}."""
    path = ledger_path()
    if not path.is_file():
        return {"executions": {}, "report": {}}
    return json.loads(path.read_text())


def save_ledger(ledger: dict[str, Any]) -> None:
    write_text_atomic(ledger_path(), json.dumps(ledger, indent=2, sort_keys=True) + "\n")


def is_fresh(exec_id: str, key: str, ledger: dict[str, Any]) -> bool:
    entry = ledger["executions"].get(exec_id)
    return bool(entry) and entry["key"] == key and (notebooks_out_dir() / f"{exec_id}.ipynb").is_file()
