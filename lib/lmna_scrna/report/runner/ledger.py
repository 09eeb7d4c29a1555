"""What ran: content keys of executions and the ledger of their last successes.

An execution's key hashes its notebook, its parameters, the parameter files it
reads, a context (the library's source, the data's fingerprint, the version)
and the keys of the executions it depends on, so a change anywhere upstream
changes every key downstream. The ledger (``outputs/notebooks/ledger.json``)
records the key of each execution's last success, the inputs that key hashed
(so a dry run can say which one changed: `why`), a stamp of that run and the
stamps of the upstream runs it read, and a fingerprint of every
result it published (a run folder, a table, a figure: `atomic.note_published`).
An execution is fresh, and not run again, only if its key is unchanged, its
executed notebook is complete (papermill finished it, every code cell ran) and
each result it published is still the one on disk: a notebook run by hand that
retrained a run or redrew a figure makes the execution that made it stale,
and the runner re-runs it and everything downstream. An execution whose
upstream ran again after it (``report --only`` or ``--force`` left it) is stale too.

A ledger that cannot be read (cut, not JSON, not the shape below) is set aside
as ``ledger.json.damaged-<UTC time>`` and the report re-checks every execution.
The book reads the ledger without importing the executor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ... import provenance
from ...atomic import write_text_atomic
from ...errors import InputError, one_line
from ...io.digests import content_digests
from ...paths import PROJECT_ROOT, cache_dir, default_sheet_path, outputs_dir, shown_path
from .plan import Profile

log = logging.getLogger(__name__)

#: The package's source folder: every notebook calls into it, so it is an input of every execution.
LIBRARY_DIR = Path(__file__).resolve().parents[2]


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def library_fingerprint() -> str:
    """Hash of the package's source: notebooks are thin, so the library is an input of every one. The faces'
    stubs count: a stub says which module each name of a face loads."""
    digest = hashlib.sha256()
    for source in sorted([*LIBRARY_DIR.rglob("*.py"), *LIBRARY_DIR.rglob("*.pyi")]):
        digest.update(source.relative_to(LIBRARY_DIR).as_posix().encode() + b"\0")
        digest.update(source.read_bytes())
    return digest.hexdigest()


def environment_fingerprint() -> str:
    """Hash of every installed package's version: a notebook run on numpy 2.4 is not a result of numpy 2.5's."""
    return hashlib.sha256(json.dumps(provenance.packages()).encode()).hexdigest()[:16]


def data_fingerprint(data_dir: Path) -> str:
    """Identity of the raw data and the sample sheet (cheap: io.digests.file_fingerprint of each file)."""
    from ...io.digests import file_fingerprint

    files = sorted(p for p in Path(data_dir).rglob("*") if p.is_file())
    if not files:
        raise InputError(f"raw-data folder {data_dir} is empty or does not exist")
    return file_fingerprint([*files, default_sheet_path()])


def execution_keys(profile: Profile, context: str) -> dict[str, str]:
    """Key of every execution: its own inputs plus its dependencies' keys (so changes propagate)."""
    return {exec_id: key for exec_id, (key, _) in keyed_inputs(profile, context).items()}


def keyed_inputs(profile: Profile, context: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each execution's key and the inputs it hashes, kept by name (files by path) so that the ledger can
    record them and a dry run say which one changed (`why.changed_inputs`)."""
    keyed: dict[str, tuple[str, dict[str, Any]]] = {}
    for e in profile.executions:
        files = [(input_name(f), _sha256_file(f)) for f in e.files]
        payload = {
            "notebook": _sha256_file(e.notebook),
            "parameters": {k: v for k, v in e.parameters.items() if not k.endswith("_file")},
            "files": sorted(digest for _, digest in files),
            "after": {a: keyed[a][0] for a in sorted(e.after)},
            "context": context,
        }
        key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        keyed[e.id] = key, {**payload, "files": dict(files)}
    return keyed


def input_name(path: Path) -> str:
    """A parameter file as the ledger and a dry run name it: relative to the project, else absolute."""
    return path.relative_to(PROJECT_ROOT).as_posix() if path.is_relative_to(PROJECT_ROOT) else str(path)


def notebooks_out_dir() -> Path:
    """Executed notebooks: outputs/notebooks/<id>.ipynb (the book copies them from here)."""
    return outputs_dir() / "notebooks"


def ledger_path() -> Path:
    return notebooks_out_dir() / "ledger.json"


class LedgerDamaged(InputError):
    """The ledger file exists but is not a ledger (cut, not JSON, another shape)."""


#: What an execution's entry must hold (the book reads these), and what a report's record must hold.
ENTRY_FIELDS: dict[str, type] = {"key": str, "notebook": str, "stage": str, "parameters": dict}
REPORT_FIELDS: dict[str, type] = {"profile": str, "data_dir": str, "data_fingerprint": str, "version": str,
                                  "executions": list, "finished": str}


def read_ledger() -> dict[str, Any]:
    """The record of past successes: {"executions": {id: {...}}, "report": {last report run}}.

    Raises `LedgerDamaged` naming the file and what is wrong with it.
    """
    path = ledger_path()
    if not path.is_file():
        return {"executions": {}, "report": {}}
    try:
        ledger = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LedgerDamaged(f"ledger {path} is damaged: not JSON ({one_line(exc)})") from None
    problem = _ledger_problem(ledger)
    if problem:
        raise LedgerDamaged(f"ledger {path} is damaged: {problem}")
    return ledger


def _ledger_problem(ledger: Any) -> str | None:
    if not isinstance(ledger, dict) or not isinstance(ledger.get("executions"), dict) \
            or not isinstance(ledger.get("report"), dict):
        return "not a mapping with `executions` and `report` mappings"
    for exec_id, entry in ledger["executions"].items():
        wrong = [f for f, kind in ENTRY_FIELDS.items() if not isinstance(entry, dict) or not isinstance(entry.get(f), kind)]
        if wrong:
            return f"execution {exec_id!r} lacks {', '.join(wrong)}"
    report = ledger["report"]
    wrong = [f for f, kind in REPORT_FIELDS.items() if not isinstance(report.get(f), kind)]
    if report and wrong:
        return f"the report record lacks {', '.join(wrong)}"
    return None


def load_ledger() -> dict[str, Any]:
    """`read_ledger`, but a damaged ledger is set aside (one line says where) and an empty one returned,
    so the report re-checks every execution instead of trusting or dying on it."""
    try:
        return read_ledger()
    except LedgerDamaged as exc:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = ledger_path().with_name(f"{ledger_path().name}.damaged-{stamp}")
        os.replace(ledger_path(), aside)
        log.warning("%s; set aside as %s: every execution is re-checked", exc, shown_path(aside))
        return {"executions": {}, "report": {}}


def save_ledger(ledger: dict[str, Any]) -> None:
    write_text_atomic(ledger_path(), json.dumps(ledger, indent=2, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- is a success still on disk?

def notebook_problem(path: Path) -> str | None:
    """Why an executed notebook is not a finished one (missing, cut, not a notebook, a cell not run), or None."""
    import nbformat

    if not path.is_file():
        return "is missing"
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises NotJSONError, ValidationError, UnicodeDecodeError, …
        return f"is cut or unreadable ({type(exc).__name__})"
    meta = nb.metadata.get("papermill") or {}
    if not meta.get("end_time") or meta.get("exception"):
        return "was not finished by papermill"
    if any(c.cell_type == "code" and c.source.strip() and c.get("execution_count") is None for c in nb.cells):
        return "has a code cell that did not run"
    return None


def result_fingerprint(path: Path) -> str | None:
    """Content hash of a published result; None once it is gone.

    A file is hashed whole, streamed, and remembered under its identity on disk
    (`io.digests`, as raw files are): a report checks its processed splits,
    hundreds of MB each, on every run. A folder (a run, swapped in whole) is
    known by its top-level JSON files: a run's config.json and summary.json
    change with any retraining, and hashing them costs nothing next to its models.
    """
    if path.is_file():
        return content_digests([path])[0]
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for part in sorted(path.glob("*.json")):
        digest.update(part.name.encode() + b"\0" + part.read_bytes())
    return digest.hexdigest()


def published_results(paths: Iterable[str]) -> dict[str, str]:
    """Fingerprints of the results an execution published, keyed by their path under the outputs folder.

    Kept: what lies in the outputs folder outside its cache (content-keyed, shared
    by every split) and outside hidden build folders; a path listed twice counts once.
    """
    root, cache = outputs_dir(), cache_dir()
    found: dict[str, str] = {}
    for listed in dict.fromkeys(paths):
        path = Path(listed)
        if not path.is_relative_to(root) or path.is_relative_to(cache):
            continue
        relative = path.relative_to(root)
        digest = result_fingerprint(path)
        if digest is not None and not any(part.startswith(".") for part in relative.parts):
            found[relative.as_posix()] = digest
    return found


def record_results(ledger: dict[str, Any], exec_id: str, results: dict[str, str]) -> None:
    """Give `exec_id` its results; an earlier execution that published the same path no longer answers for it."""
    for other, entry in ledger["executions"].items():
        if other != exec_id and entry.get("results"):
            entry["results"] = {p: d for p, d in entry["results"].items() if p not in results}
    ledger["executions"][exec_id]["results"] = results


def success_problem(exec_id: str, entry: dict[str, Any]) -> str | None:
    """Why a recorded success is no longer on disk: its executed notebook, or a result it published, changed."""
    notebook = notebooks_out_dir() / f"{exec_id}.ipynb"
    problem = notebook_problem(notebook)
    if problem:
        return f"its executed notebook {shown_path(notebook)} {problem}"
    for relative, digest in (entry.get("results") or {}).items():
        if result_fingerprint(outputs_dir() / relative) != digest:
            return f"outputs/{relative} changed since it made it (a notebook run by hand?)"
    return None
