"""Build the Jupyter Book (1.x, offline) from the executed notebooks, without re-running them.

The book's hand-written pages live in the checkout's ``book/``; the book built
from an outputs folder lives in it (``<outputs>/book/_build/html``), so two
outputs folders never share one book. A build is staged in a hidden folder
beside it: the hand-written pages are copied there, the last report's executed
notebooks are copied into its ``notebooks/``, prepared for reading by `pages`
(results first, code hidden, a header saying how to re-execute the page), and
its ``generated/`` gets the pages written from the run itself: the intro's
parts (``book/parts/*.md``: typed sentences whose numbers and verdict words are
pasted from the notebooks that computed them), its headline figure, one-line
provenance and the provenance page. Before Jupyter Book runs, `claim_check`
decides every pasted verdict again and resolves every paste: a sentence its
numbers do not support stops the build. Only a finished build replaces the
last one, whole; an executed notebook that is cut, or whose results a hand run
replaced, stops the build before anything is touched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from ... import provenance
from ...atomic import temp_dir, write_text_atomic
from ...errors import InputError, LmnaError
from ...paths import PROJECT_ROOT, book_dir, figures_dir, processed_path, shown_path
from ..names import page_title
from ..runner.ledger import (
    LedgerDamaged,
    library_fingerprint,
    notebooks_out_dir,
    read_ledger,
    save_ledger,
    success_problem,
)
from ..runner.param_files import load_sweep
from ..runner.plan import NOTEBOOKS_DIR, notebook_parameters
from .claim_check import book_sources, check_claims, pastes
from .navigation import TOC_NAME, write_toc
from .pages import header_markdown, prepare_page, provenance_line

log = logging.getLogger(__name__)

#: The book's hand-written sources in the checkout (the build copies them; it writes nothing here).
BOOK_DIR = PROJECT_ROOT / "book"
#: Folders of a book that a build writes: never copied from the sources.
BUILT = ("_build", "notebooks", "generated")
#: The figure that tells the story, shown on the intro (copied into the book at build time).
HEADLINE_FIGURE = ("compare", "figure2_auc_by_split.png")
#: A figure an intro part shows from ``generated/``.
FIGURE_REF = re.compile(r"/generated/([\w.-]+\.png)")


def build_book(sources: Path = BOOK_DIR) -> Path:
    """Stage the book from `sources` and the executed notebooks, run `jupyter-book build`, swap it in; return
    its index.html (under the outputs folder, `paths.book_dir`).

    Skipped (seconds instead of a minute) when the book was last built from the
    same executions and the same hand-written pages: a stamp beside the HTML
    records both.
    """
    try:
        whole = read_ledger()
    except LedgerDamaged as exc:  # one line here; `report` sets it aside and re-checks every execution
        raise LedgerDamaged(f"{exc}; run `lmna-scrna report`: it sets the ledger aside and re-checks every execution") from None
    report, ledger = whole["report"], whole["executions"]
    if not report:
        raise InputError(f"no executed notebooks in {notebooks_out_dir()}: run `lmna-scrna report` first")
    check_successes(whole)
    target = book_dir()
    index = target / "_build" / "html" / "index.html"
    stamp_file = target / "_build" / "lmna_stamp.txt"
    stamp = _stamp(sources, report, ledger)
    if index.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        log.info("book unchanged since its last build: %s", index)
        return index
    stage = temp_dir(target)
    try:
        shutil.copytree(sources, stage, ignore=shutil.ignore_patterns(*BUILT), dirs_exist_ok=True)
        write_pages(stage, report, ledger)
        _jupyter_book(stage)
        write_text_atomic(stage / "_build" / stamp_file.name, stamp)
        _swap_in(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return index


def check_successes(whole: dict[str, Any]) -> None:
    """Refuse to build from an execution whose executed notebook is cut or whose results a hand run replaced:
    its ledger entry is dropped (the next `report` re-runs it and what depends on it) and the line names it."""
    ledger = whole["executions"]
    for exec_id in whole["report"]["executions"]:
        if exec_id not in ledger:
            continue
        problem = success_problem(exec_id, ledger[exec_id])
        if problem:
            del ledger[exec_id]
            save_ledger(whole)
            raise InputError(f"execution {exec_id}: {problem}; it is marked stale: run `lmna-scrna report` to "
                             "re-run it (the last good book is kept)")


def write_pages(stage: Path, report: dict[str, Any], ledger: dict[str, Any]) -> None:
    """The executed notebooks (prepared for reading), the generated pages and the toc, into a staged book."""
    source = data_source(ledger)
    notebooks = copy_notebooks(report, ledger, stage / "notebooks", source)
    generated = stage / "generated"
    generated.mkdir(exist_ok=True)
    copy_headline_figure(generated)
    write_parts(stage, generated, {f"notebooks/{i}.ipynb" for i in report["executions"]})
    (generated / "provenance.md").write_text(provenance_markdown(report, ledger))
    (generated / "provenance_line.md").write_text(provenance_line(report, source))
    log.info("claims check: %d verdicts decided again, every paste resolved",
             check_claims(notebooks, book_sources(stage)))
    write_toc(stage, report, ledger)


def _swap_in(stage: Path, target: Path) -> None:
    """Replace `target` by the finished `stage` in two renames; the old book is removed only after."""
    old = stage.with_name(f"{stage.name}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(stage, target)
    shutil.rmtree(old, ignore_errors=True)


def _stamp(sources: Path, report: dict[str, Any], ledger: dict[str, Any]) -> str:
    """Identity of a build's inputs: the executions (by content key and when they last succeeded) and the
    hand-written pages."""
    digest = hashlib.sha256(str(notebooks_out_dir().resolve()).encode())
    digest.update(library_fingerprint().encode())  # the pages' preparation is library code
    for exec_id in report["executions"]:  # a re-run with an unchanged key (after a hand run) finished anew
        entry = ledger.get(exec_id, {})
        digest.update(f"{exec_id}={entry.get('key')}@{entry.get('finished')}\n".encode())
    for page in sorted([*(p for p in sources.iterdir() if p.is_file()), *(sources / "parts").glob("*.md")]):
        digest.update(page.name.encode() + b"\0" + page.read_bytes())
    return digest.hexdigest()


def copy_notebooks(
    report: dict[str, Any], ledger: dict[str, Any], dest: Path, source: str
) -> dict[str, nbformat.NotebookNode]:
    """Copy each executed notebook, prepared for reading; a notebook run more than once is titled in words
    by what this execution did (`names.page_title`: its split, sweep settings or scenario). Returns the
    pages as written, by the path a page pastes from (``notebooks/<id>.ipynb``), for the claims check."""
    dest.mkdir(parents=True)
    ids = report["executions"]
    notebooks = [ledger[i]["notebook"] for i in ids if i in ledger]
    titles: Counter[str] = Counter()
    pages: dict[str, nbformat.NotebookNode] = {}
    for exec_id in ids:
        source_nb = notebooks_out_dir() / f"{exec_id}.ipynb"
        if not source_nb.is_file() or exec_id not in ledger:
            raise InputError(f"executed notebook {source_nb} is missing: re-run `lmna-scrna report`")
        entry = ledger[exec_id]
        nb = nbformat.read(source_nb, as_version=4)
        if notebooks.count(entry["notebook"]) > 1:
            p = entry.get("parameters", {})
            variant = load_sweep(p["sweep_file"]).runs[p["sweep_run"]] if p.get("sweep_file") else None
            title = page_title(entry, variant) or exec_id
            titles[title] += 1  # the same words twice (a smoke profile caps the epochs of two sweep runs alike)
            _retitle(nb, title if titles[title] == 1 else f"{title} (run {titles[title]})")
        accepts = notebook_parameters(NOTEBOOKS_DIR / entry["notebook"])
        prepare_page(nb, header_markdown(exec_id, entry, report, source, accepts))
        nbformat.write(nb, dest / f"{exec_id}.ipynb")
        pages[f"{dest.name}/{exec_id}.ipynb"] = nb
    return pages


def copy_headline_figure(generated: Path) -> None:
    """Copy the story's figure beside the generated pages (the intro's headline part shows it)."""
    figure = figures_dir(HEADLINE_FIGURE[0]) / HEADLINE_FIGURE[1]
    if figure.is_file():
        shutil.copyfile(figure, generated / figure.name)


def write_parts(stage: Path, generated: Path, in_book: set[str]) -> None:
    """Copy each intro part (``book/parts/*.md``: sentences typed, numbers pasted) into ``generated/``, or, when
    a page or a figure it needs is not in this build, one line saying which (a failed stage still gets a book)."""
    for part in sorted((stage / "parts").glob("*.md")):
        text = part.read_text()
        missing = sorted({doc for doc, _ in pastes(text) if doc and doc not in in_book})
        missing += [f"/generated/{name}" for name in FIGURE_REF.findall(text) if not (generated / name).is_file()]
        if missing:
            text = f"*Not available in this build ({part.stem.replace('_', ' ')}): {', '.join(missing)} not produced.*\n"
        (generated / part.name).write_text(text)


def _retitle(nb: nbformat.NotebookNode, title: str) -> None:
    """Replace the first heading, so six "Prepare one split" pages are told apart in the navigation."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            _, _, rest = cell.source.partition("\n")
            cell.source = f"# {title}\n{rest}"
            return


def data_source(ledger: dict[str, Any]) -> str:
    """"simulated" or "real", as recorded by preprocessing in a processed split's uns["source"]."""
    return str(_processed_uns(ledger, "source") or "unknown")


def _processed_uns(ledger: dict[str, Any], key: str) -> Any:
    """One entry of the first processed split's uns (None without a processed split or without the entry)."""
    import anndata

    for entry in ledger.values():
        split = entry.get("split")
        if split and processed_path(split).is_file():
            adata = anndata.read_h5ad(processed_path(split), backed="r")
            try:
                return adata.uns.get(key)
            finally:
                adata.file.close()
    return None


def provenance_markdown(report: dict[str, Any], ledger: dict[str, Any], env: dict[str, Any] | None = None) -> str:
    """What produced this book, citable: data, seeds, the software (every package) and machine, the commit,
    and the wall time of each stage and notebook. `env` is `provenance.environment()` unless given."""
    env = provenance.environment() if env is None else env
    seeds = sorted({tuple(e["parameters"]["seeds"]) for e in ledger.values() if "seeds" in e["parameters"]})
    facts = pd.DataFrame(
        [
            ("lmna-scrna version", report["version"]),
            ("project commit", env["commit"]),
            ("profile", report["profile"]),
            ("data folder", shown_path(report["data_dir"])),
            ("data fingerprint", report["data_fingerprint"]),
            ("data source", data_source(ledger)),
            ("seeds", "; ".join(", ".join(map(str, s)) for s in seeds) or "none"),
            ("report finished", report["finished"]),
            ("book built", datetime.now(timezone.utc).isoformat(timespec="seconds")),
        ],
        columns=["item", "value"],
    )
    machine = pd.DataFrame(
        [
            ("CPU", env["cpu"]),
            ("CPU flags that matter", env["cpu_flags"]),
            ("cores this process may use", env["cores"]),
            ("thread budget per notebook kernel", _thread_budget(ledger, env)),
            ("Python", env["python"]),
            ("operating system", env["os"]),
        ],
        columns=["item", "value"],
    )
    key = pd.DataFrame(list(env["packages"].items()), columns=["package", "version"])
    installed = ", ".join(f"{name} {version}" for name, version in env["installed"].items())
    runs = pd.DataFrame(
        [
            {
                "execution": i,
                "stage": ledger[i]["stage"],
                "wall time (seconds)": ledger[i]["seconds"],
                "kernel start (seconds)": ledger[i].get("kernel_start_s", float("nan")),
                "imports (seconds)": ledger[i].get("imports_s", float("nan")),
            }
            for i in report["executions"]
            if i in ledger
        ]
    )
    total = runs["wall time (seconds)"].sum() if len(runs) else 0.0
    return (
        "# Provenance\n\n"
        "What produced this book. The software and machine are those the book was built with "
        "(`lmna-scrna report` builds it in the same environment right after running the notebooks); every "
        "processed data file and every training run records the same facts for itself (the key packages' "
        "versions, the CPU, the thread budget and the commit).\n\n"
        f"{facts.to_markdown(index=False)}\n\n"
        "## Machine\n\n"
        "The CPU flags decide which vectorised kernels TensorFlow and the linear algebra run, so another CPU can "
        "change the last digits of a result and every timing below.\n\n"
        f"{machine.to_markdown(index=False)}\n\n"
        "## Software\n\n"
        f"The packages that shape this book's numbers, figures and pages:\n\n{key.to_markdown(index=False)}\n\n"
        f"Every package installed ({len(env['installed'])}): {installed}.\n\n"
        f"## Wall time of each stage\n\n{_stage_times(runs)}\n\n"
        f"## Notebook executions ({len(runs)}, {total:.0f} s of notebook time)\n\n"
        "A notebook's run time is that of its last successful execution; the runner skips executions whose "
        "notebook, parameters and inputs did not change. *Kernel start* is the time outside every cell "
        "(launching the kernel, papermill's own work); *imports* is the set-up cell.\n\n"
        f"{runs.to_markdown(index=False)}\n"
    )


def _thread_budget(ledger: dict[str, Any], env: dict[str, Any]) -> str:
    """The threads a notebook kernel ran with, as its processed split recorded them; else this process's budget."""
    recorded = _processed_uns(ledger, "provenance")
    if recorded is not None and "threads" in recorded:
        return (f"{int(recorded['threads'])} (recorded by the notebook that prepared the data: the cores shared "
                "among the notebooks run at once)")
    return f"{env['threads']} (this process's: the cores shared among the notebooks run at once)"


def _stage_times(runs: pd.DataFrame) -> str:
    """Per stage: executions and the summed wall time of its notebooks (run side by side, they overlap)."""
    if not len(runs):
        return "No notebook was executed."
    stages = runs.groupby("stage", sort=False)["wall time (seconds)"].agg(["count", "sum", "max"]).reset_index()
    stages.columns = ["stage", "executions", "wall time of its notebooks, summed (seconds)", "longest execution (seconds)"]
    return (
        f"{stages.to_markdown(index=False, floatfmt='.1f')}\n\n"
        "Times are each notebook's own wall time, summed over the stage; with several notebooks run at once "
        "they overlap, so a stage took less time on the clock than its sum."
    )


def _jupyter_book(book_dir: Path) -> None:
    """`jupyter-book build` in a child process (Sphinx keeps global state); its log goes to ours.

    The generated toc, when there is one, replaces ``_toc.yml`` (the hand-written one with its globs expanded)."""
    executable = Path(sys.executable).with_name("jupyter-book")
    if not executable.is_file():
        raise LmnaError(f"{executable} not found: install the project (`make setup`)")
    log.info("building the book in %s", book_dir)
    toc = book_dir / "generated" / TOC_NAME  # `navigation.write_toc`: the pages in reading order
    result = subprocess.run(
        [str(executable), "build", str(book_dir), "--all", "-q", *(["--toc", str(toc)] if toc.is_file() else [])],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise LmnaError(f"jupyter-book build {book_dir} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    for line in result.stderr.splitlines():
        if "WARNING" in line:
            log.warning("book: %s", line)
    if not (book_dir / "_build" / "html" / "index.html").is_file():
        raise LmnaError(f"jupyter-book build {book_dir} finished without writing _build/html/index.html")
