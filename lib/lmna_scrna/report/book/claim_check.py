"""The book's claims check: no page renders a verdict word its check does not give, or pastes a value never glued.

myst-nb renders a paste whose key is missing as nothing (with a warning), and
a glued word as whatever the notebook glued. Before Jupyter Book runs, this
module reads every glue output of the executed notebooks the book holds,
decides each recorded claim again by its named check (`claims`), and
resolves every ``{glue:text}`` of every Markdown source (pages, intro parts,
the notebooks' Markdown cells). Any failure stops the build with one line per
sentence, before a page can show it.
"""

from __future__ import annotations

import json
import re
from ast import literal_eval
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import nbformat

from ...errors import LmnaError
from .claims import RECORDS, redecide

#: A glue paste in MyST: {glue:text}`[doc.ipynb::]key[:format]` (also {glue}, {glue:md}).
PASTE = re.compile(r"\{glue(?::[a-z]+)?\}`(?:(?P<doc>[^`:]+?\.ipynb)::)?(?P<key>[A-Za-z_][\w.-]*)(?P<format>:[^`]*)?`")


class ClaimCheckFailed(LmnaError):
    """A page states a claim its check does not give, or pastes a value its notebook did not glue."""


def glued_values(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """Every value a notebook glued (myst-nb's scrapbook outputs), as Python values where they parse."""
    values: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            scrap = output.get("metadata", {}).get("scrapbook")
            if not scrap:
                continue
            prefix = scrap.get("mime_prefix", "")
            text = output.get("data", {}).get(f"{prefix}text/plain", "")
            try:
                values[scrap["name"]] = literal_eval(text)
            except (SyntaxError, ValueError):
                values[scrap["name"]] = text
    return values


def pastes(text: str) -> Iterator[tuple[str | None, str]]:
    """(notebook or None for the page itself, key) of every glue paste in a Markdown text."""
    for m in PASTE.finditer(text):
        yield m["doc"], m["key"]


def unformatted(text: str) -> list[str]:
    """Pastes from another notebook without a format: myst-nb splits ``doc::key`` at its last colon, so
    such a paste resolves to no key and renders nothing (``:s`` pastes a text as it is)."""
    return [m[0] for m in PASTE.finditer(text) if m["doc"] and not m["format"]]


def _claim_problems(doc: str, values: Mapping[str, Any]) -> Iterator[str]:
    records = json.loads(values.get(RECORDS, "{}"))
    for key, record in records.items():
        try:
            word = redecide(record)
        except (KeyError, TypeError) as exc:
            yield f"{doc}: claim {key!r} cannot be decided again ({exc})"
            continue
        if word != record["word"] or values.get(key) != word:
            yield (f"{doc}: claim {key!r} says {values.get(key)!r}, but its check {record['check']!r} gives {word!r} "
                   f"for {record['numbers']}")


def check_claims(notebooks: Mapping[str, nbformat.NotebookNode], pages: Mapping[str, str]) -> int:
    """Raise `ClaimCheckFailed` naming every bad claim and every unresolved paste; return the claims checked.

    ``notebooks`` maps a book path ("notebooks/compare.ipynb") to its executed
    notebook; ``pages`` maps a Markdown source's name to its text, its pastes
    resolved against ``notebooks`` (a root-level page's paths are the book's).
    A notebook's own Markdown cells paste its keys without a path.
    """
    glued = {doc: glued_values(nb) for doc, nb in notebooks.items()}
    problems = [p for doc, values in glued.items() for p in _claim_problems(doc, values)]
    sources: list[tuple[str, str, str | None]] = [(name, text, None) for name, text in pages.items()]
    sources += [(f"{doc} (cell {i})", cell.source, doc) for doc, nb in notebooks.items()
                for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"]
    for name, text, own in sources:
        problems += [f"{name}: {paste} needs a format (`:s` for a text)" for paste in unformatted(text)]
        for doc, key in pastes(text):
            where = doc or own
            if where is None or where not in glued:
                problems.append(f"{name} pastes {key!r} from {where or 'itself'}, which is not in this book")
            elif key not in glued[where]:
                problems.append(f"{name} pastes {key!r}, which {where} did not glue")
    if problems:
        raise ClaimCheckFailed("the book states what its numbers do not support:\n  " + "\n  ".join(problems))
    return sum(len(json.loads(v.get(RECORDS, "{}"))) for v in glued.values())


def book_sources(book_dir: Path) -> dict[str, str]:
    """The Markdown the book renders outside notebooks: its pages and the generated parts they include."""
    files = [*sorted(book_dir.glob("*.md")), *sorted((book_dir / "generated").glob("*.md"))]
    return {p.relative_to(book_dir).as_posix(): p.read_text() for p in files}
