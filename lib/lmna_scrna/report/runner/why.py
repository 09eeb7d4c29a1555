"""Why an execution runs, and which ones a report runs: the answer `report` acts on and `--dry-run` prints.

An execution is stale when it never succeeded, when an input of its key
changed (its notebook, a parameter, a parameter file, the library, the data,
the version, an upstream key: `changed_inputs` names which, from the inputs the
ledger recorded), when its success is no longer on disk (`ledger.success_problem`)
or when an upstream execution ran again after it. A plain report runs the stale
executions and everything downstream of them. ``--only IDS`` and ``--force IDS``
narrow that to the named executions and what they need: the stale ones among
their upstream executions, and the named ones themselves (``--force``: even
when fresh). What lies downstream of them is left; the stamps of the upstream
runs each execution read make it stale for the next report.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...paths import shown_path
from .ledger import input_name, notebooks_out_dir, success_problem
from .plan import Execution, Profile

#: Why an execution runs when it never succeeded.
NEW = "never succeeded"
#: What an entry recorded before the ledger kept the inputs of each key says when its key changed.
UNRECORDED = "its inputs changed (recorded before components were kept)"


@dataclass(frozen=True)
class Verdict:
    """One execution's state for this report: fresh (no reason) or why it is stale, and whether it runs."""

    id: str
    reason: str | None
    runs: bool
    surprising: bool = False  # its recorded success is gone from disk (worth a warning), not an input change

    def line(self) -> str:
        """The dry run's line: ``run``/``fresh``/``held`` (stale, not selected), the id, and why."""
        state = "run" if self.runs else "held" if self.reason else "fresh"
        failed = notebooks_out_dir() / f"{self.id}.failed.ipynb"
        if self.reason and failed.is_file():
            return f"{state:<6}{self.id}: {self.reason}; its last run failed ({shown_path(failed)})"
        return f"{state:<6}{self.id}" + (f": {self.reason}" if self.reason else "")


def decide(
    profile: Profile,
    keyed: Mapping[str, tuple[str, dict[str, Any]]],
    ledger: dict[str, Any],
    only: Collection[str] = (),
    force: Collection[str] = (),
) -> list[Verdict]:
    """Every execution's verdict, in run order (`ledger.keyed_inputs` gives `keyed`).

    Without `only` and `force` every stale execution runs, and everything
    downstream of one that runs. With them, only the named executions and their
    upstream ones are in scope; `force` runs its executions even when fresh.
    """
    scope = upstream_closure(profile, {*only, *force}) if only or force else {e.id for e in profile.executions}
    verdicts: dict[str, Verdict] = {}
    for e in profile.executions:
        key, inputs = keyed[e.id]
        own, surprising = own_reason(e, key, inputs, ledger)
        upstream = next((a for a in e.after if verdicts[a].reason), None)
        reason = own or (f"upstream {upstream} {'runs again' if verdicts[upstream].runs else 'is stale'}"
                         if upstream else None)
        if e.id in force:
            reason = f"forced (--force){f'; {reason}' if reason else ': it was fresh'}"
        verdicts[e.id] = Verdict(e.id, reason, reason is not None and e.id in scope, surprising)
    return list(verdicts.values())


def upstream_closure(profile: Profile, ids: Collection[str]) -> set[str]:
    """`ids` and every execution they wait for, directly or not."""
    by_id, seen, todo = profile.by_id(), set(), list(ids)
    while todo:
        exec_id = todo.pop()
        if exec_id not in seen:
            seen.add(exec_id)
            todo.extend(by_id[exec_id].after)
    return seen


def own_reason(e: Execution, key: str, inputs: dict[str, Any], ledger: dict[str, Any]) -> tuple[str | None, bool]:
    """Why `e` itself is stale (None if it is not), and whether that is surprising (its success left the disk)."""
    entry = ledger["executions"].get(e.id)
    if not entry:
        return NEW, False
    if entry["key"] != key:
        recorded = entry.get("inputs")
        return ("; ".join(changed_inputs(recorded, inputs, e)) or "its inputs changed") if recorded else UNRECORDED, False
    problem = success_problem(e.id, entry)
    if problem:
        return problem, True
    for upstream, run in (entry.get("upstream") or {}).items():
        if (ledger["executions"].get(upstream) or {}).get("run") != run:
            return f"upstream {upstream} ran again after it", False
    return None, False


def changed_inputs(recorded: dict[str, Any], current: dict[str, Any], e: Execution) -> list[str]:
    """Which inputs of a key differ between the ledger's record and now, as a person reads them."""
    said = _context_changes(recorded.get("context"), current["context"])
    if recorded.get("notebook") != current["notebook"]:
        said.append(f"notebook {e.notebook.name} changed")
    before, now = recorded.get("parameters") or {}, current["parameters"]
    changes = [f"{name} {_shown(before, name)} → {_shown(now, name)}"
               for name in sorted({*before, *now}) if before.get(name, _UNSET) != now.get(name, _UNSET)]
    if changes:
        said.append(f"parameters changed: {', '.join(changes)}")
    split = input_name(e.params_file) if e.params_file else None
    for name in sorted({*(recorded.get("files") or {}), *current["files"]}):
        kind = "split file" if name == split else "parameter file"
        old, new = (recorded.get("files") or {}).get(name), current["files"].get(name)
        if old != new:
            said.append(f"{kind} {name} " + ("changed" if old and new else "now read" if new else "no longer read"))
    same_context = recorded.get("context") == current["context"]  # else every upstream key changed with it
    for upstream in sorted({*(recorded.get("after") or {}), *current["after"]}) if same_context else ():
        if (recorded.get("after") or {}).get(upstream) != current["after"].get(upstream):
            said.append(f"input {upstream} stale (upstream)" if upstream in current["after"]
                        else f"no longer waits for {upstream}")
    return said


_UNSET = object()


def _shown(values: dict[str, Any], name: str) -> str:
    return "unset" if name not in values else json.dumps(values[name], default=str)


def _context_changes(before: Any, now: str) -> list[str]:
    """The parts of the context (`execute.key_context`) that differ: raw data, library, environment, version."""
    if before == now:
        return []
    try:
        old, new = json.loads(before), json.loads(now)
    except (TypeError, json.JSONDecodeError):
        return ["context changed"]
    names = {"data": "raw data", "library": "library (lmna_scrna's source)",
             "environment": "environment (installed packages)"}
    said = [f"{names.get(part, part)} changed" for part in sorted({*old, *new})
            if part != "version" and old.get(part) != new.get(part)]
    if old.get("version") != new.get("version"):
        said.append(f"version {old.get('version')} → {new.get('version')}")
    return said


def check_ids(profile: Profile, ids: Collection[str], option: str) -> None:
    """Refuse, in one line before any work, ids that are no execution of the profile, naming close ones."""
    known = [e.id for e in profile.executions]
    unknown = [i for i in dict.fromkeys(ids) if i not in known]
    if not unknown:
        return
    hints = []
    for exec_id in unknown:
        close = difflib.get_close_matches(exec_id, known, n=3, cutoff=0.6)
        hints.append(f"{exec_id} (close: {', '.join(close)})" if close else exec_id)
    raise InputError(f"{option}: no execution of profile {profile.name} is called {'; '.join(hints)} "
                     f"(`lmna-scrna report --profile {profile.name} --dry-run` lists them)")


def dry_run_lines(verdicts: list[Verdict], profile: Profile, data: Path | None) -> list[str]:
    """What `report --dry-run` prints: a summary, then one line per execution."""
    runs = sum(v.runs for v in verdicts)
    fresh = sum(v.reason is None for v in verdicts)
    held = len(verdicts) - runs - fresh
    head = [f"profile {profile.name}: {len(verdicts)} executions, {runs} would run, {fresh} fresh"
            + (f", {held} stale but held (outside --only/--force)" if held else "")]
    if data is None:
        head.append(f"the simulated {profile.sim_size!r} data set is not there yet: the report would simulate it first")
    return head + [v.line() for v in verdicts]
