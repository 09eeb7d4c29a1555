"""Build the Jupyter Book (1.x, offline) from the executed notebooks, without re-running them.

The book's hand-written pages live in the checkout's ``book/``; the book built
from an outputs folder lives in it (``<outputs>/book/_build/html``), so two
outputs folders never share one book. A build is staged in a hidden folder
beside it: the hand-written pages are copied there, the last report's executed
notebooks are copied into its ``notebooks/``, prepared for reading by `pages`
(results first, code hidden, a header saying how to re-execute the page), and
its ``generated/`` gets the pages written from the run itself: the intro's
findings (every number computed by `tables`), its headline figure and
one-line provenance, and the provenance page. Only a finished build replaces
the last one, whole; an executed notebook that is cut, or whose results a hand
run replaced, stops the build before anything is touched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from ...atomic import temp_dir, write_text_atomic
from ...errors import InputError, LmnaError
from ...paths import PROJECT_ROOT, book_dir, figures_dir, processed_path, shown_path
from ...tl.inference import RULE
from ..labels import difference_interval_text, difference_text, page_title, split_words
from ..results.paper import paper_table1
from ..runner.ledger import (
    LedgerDamaged,
    library_fingerprint,
    notebooks_out_dir,
    read_ledger,
    save_ledger,
    success_problem,
)
from ..runner.plan import NOTEBOOKS_DIR, notebook_parameters
from .bottom_line import bottom_line_markdown
from .calibration_words import null_sentence
from .findings import findings
from .navigation import TOC_NAME, write_toc
from .pages import header_markdown, prepare_page, provenance_line

log = logging.getLogger(__name__)

#: The book's hand-written sources in the checkout (the build copies them; it writes nothing here).
BOOK_DIR = PROJECT_ROOT / "book"
#: Folders of a book that a build writes: never copied from the sources.
BUILT = ("_build", "notebooks", "generated")
#: The figure that tells the story, shown on the intro (copied into the book at build time).
HEADLINE_FIGURE = ("compare", "figure2_auc_by_split.png")


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
    copy_notebooks(report, ledger, stage / "notebooks", source)
    generated = stage / "generated"
    generated.mkdir(exist_ok=True)
    try:
        found: dict[str, Any] | str = findings()
    except LmnaError as exc:  # a partial build (a failed stage) still gets a book saying what is missing
        found = str(exc)
    (generated / "bottom_line.md").write_text(
        bottom_line_markdown(found, source) if isinstance(found, dict) else f"**Bottom line.** Not available: {found}\n")
    (generated / "findings.md").write_text(findings_markdown(report, ledger, found))
    (generated / "provenance.md").write_text(provenance_markdown(report, ledger))
    (generated / "provenance_line.md").write_text(provenance_line(report, source))
    (generated / "headline.md").write_text(headline_figure(generated))
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
    for page in sorted(p for p in sources.iterdir() if p.is_file()):
        digest.update(page.name.encode() + b"\0" + page.read_bytes())
    return digest.hexdigest()


def copy_notebooks(report: dict[str, Any], ledger: dict[str, Any], dest: Path, source: str) -> None:
    """Copy each executed notebook, prepared for reading; a notebook run more than once is titled in words
    by what this execution did (`labels.page_title`: its split, sweep settings or scenario)."""
    dest.mkdir(parents=True)
    ids = report["executions"]
    notebooks = [ledger[i]["notebook"] for i in ids if i in ledger]
    titles: Counter[str] = Counter()
    for exec_id in ids:
        source_nb = notebooks_out_dir() / f"{exec_id}.ipynb"
        if not source_nb.is_file() or exec_id not in ledger:
            raise InputError(f"executed notebook {source_nb} is missing: re-run `lmna-scrna report`")
        entry = ledger[exec_id]
        nb = nbformat.read(source_nb, as_version=4)
        if notebooks.count(entry["notebook"]) > 1:
            title = page_title(entry) or exec_id
            titles[title] += 1  # the same words twice (a smoke profile caps the epochs of two sweep runs alike)
            _retitle(nb, title if titles[title] == 1 else f"{title} (run {titles[title]})")
        accepts = notebook_parameters(NOTEBOOKS_DIR / entry["notebook"])
        prepare_page(nb, header_markdown(exec_id, entry, report, source, accepts))
        nbformat.write(nb, dest / f"{exec_id}.ipynb")


def headline_figure(generated: Path) -> str:
    """Copy the story's figure beside the generated pages; its markdown, or a sentence saying it is missing."""
    figure = figures_dir(HEADLINE_FIGURE[0]) / HEADLINE_FIGURE[1]
    if not figure.is_file():
        return f"*The headline figure ({shown_path(figure)}) was not produced by this build.*\n"
    shutil.copyfile(figure, generated / figure.name)
    return (
        f"```{{figure}} /generated/{figure.name}\n:alt: Genotype test AUC by split scheme, Model A and Model B\n:width: 100%\n\n"
        "*AUC by split, Model A vs Model B* (the paper's Figure 2, drawn for this build): genotype test ROC-AUC "
        "per split, bars the mean over training seeds, one dot per seed; the last group is the mean over the "
        "day-matched folds with its 95% interval over held-out days; Δ = B − A. From the paper's original split "
        "to the day-matched leave-one-day-out folds, each split removes one shortcut between training and test; "
        "{doc}`/notebooks/compare` gives the tables and the rule that decides B against A.\n```\n"
    )


def _retitle(nb: nbformat.NotebookNode, title: str) -> None:
    """Replace the first heading, so six "Prepare one split" pages are told apart in the navigation."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            _, _, rest = cell.source.partition("\n")
            cell.source = f"# {title}\n{rest}"
            return


def data_source(ledger: dict[str, Any]) -> str:
    """"simulated" or "real", as recorded by preprocessing in a processed split's uns["source"]."""
    import anndata

    for entry in ledger.values():
        split = entry.get("split")
        if split and processed_path(split).is_file():
            adata = anndata.read_h5ad(processed_path(split), backed="r")
            try:
                return str(adata.uns["source"])
            finally:
                adata.file.close()
    return "unknown"


def findings_markdown(report: dict[str, Any], ledger: dict[str, Any], f: dict[str, Any] | str) -> str:
    """The intro's data statement and headline results (`findings`, or why they are missing), every number from the runs."""
    source = data_source(ledger)
    if source == "real":
        lines = ["**Data.** This build used the real GEO GSE269705 data (12 GSM libraries)."]
    elif source == "simulated":
        lines = [
            f"**Data.** This build used the **simulated default data** (profile `{report['profile']}`), "
            "not the real GSE269705 data: the simulator reproduces the study's design (12 GSMs, days, "
            "genotypes, library effects) so every step runs offline. Its numbers say whether the "
            "pipeline recovers a planted effect, not anything about LMNA biology."
        ]
    else:
        lines = ["**Data.** No processed split was found, so the data source of this build is unknown."]
    if isinstance(f, str):
        return "\n\n".join([*lines, f"**Findings.** Not available in this build: {f}"]) + "\n"
    lo, hi = f["day_matched_ci"]
    bullets = [
        f"- *Leakage ladder* (Model A test ROC-AUC, mean over training seeds): cells split at random (the test "
        f"libraries are in training) {f['random_cells_auc']:.3f}; the paper's original GSM split {f['original_auc']:.3f}; "
        f"day-matched splits {f['day_matched_auc']:.3f} (mean of {f['day_matched_folds']} held-out days, 95% interval "
        f"over held-out days {lo:.3f}–{hi:.3f}). Day-matching removes the day from the test contrast, not the cell line: each "
        "fold still compares one patient library with one or two control libraries.",
        _paper_line(f, source),
    ]
    for key, what in (("b_vs_a", "Model B − Model A"), ("a_vs_logreg", "Model A − the cell-level logistic regression"),
                      ("a_vs_pseudobulk", "Model A − the pseudobulk model (library-level AUC)")):
        c = f[key]
        bullets.append(
            f"- *{what}*: {difference_text(c['mean'])} on average over {c['folds']} held-out days, positive on "
            f"{c['first_better']} of them (95% interval over held-out days {difference_interval_text(*c['ci'])}): "
            f"**{c['verdict']}**."
        )
    for model, name in (("A", "Model A"), ("pseudobulk", "the pseudobulk model")):
        r = f.get(f"ranking_{model}")
        if r:
            bullets.append(
                f"- *Library level, {name}*: {r['right']:g} of {r['total']} patient–control library pairs within the "
                f"leave-one-day-out folds are ranked right; exact permutation p = {r['p']:.3f} (the smallest p these "
                f"folds allow is {1 / r['assignments']:.3f})."
            )
    if "library_only" in f:
        c = f["library_only"]
        bullets.append(
            f"- *Library-only negative control* ({split_words(c['split'], short=True)}, Model A): two control libraries of the same day differ "
            f"by {c['control_distance']:.3f} in AUC from 0.5 on the genotype score; patient-vs-control pairs of that "
            f"fold by {c['genotype_distance']:.3f}. A genotype AUC is evidence only beyond what library identity "
            "alone produces."
        )
    if "calibration" in f:
        c = f["calibration"]
        bullets.append("- *Calibration against simulated studies with no genotype effect*: "
                       + " ".join(null_sentence(c, k) for k in ("null", "line") if k in c) + " (calibration page).")
    rule = f"Comparisons use one rule: the {RULE}."
    return "\n\n".join([*lines, "**Main findings**", "\n".join(bullets), rule]) + "\n"


def _paper_line(f: dict[str, Any], source: str) -> str:
    """The paper's own Model A AUCs (real data, its Table 1) beside this build's, labelled by data source."""
    paper = paper_table1().set_index(["split", "model"])["test_auc"]
    dm = paper[[s.startswith("dm_") for s, _ in paper.index] & (paper.index.get_level_values("model") == "A")]
    return (
        f"- *The paper beside this build*: on the real data the paper reported Model A AUCs of "
        f"{paper[('original', 'A')]:.3f} on the original split and {dm.min():.3f}–{dm.max():.3f} on its "
        f"{len(dm)} day-matched splits (one seed each, no intervals); this build ({source} data) gets "
        f"{f['original_auc']:.3f} and a day-matched mean of {f['day_matched_auc']:.3f}"
        + (" — different data, not a replication." if source != "real" else ".")
    )


def provenance_markdown(report: dict[str, Any], ledger: dict[str, Any]) -> str:
    """Package version, data fingerprint, profile, seeds, date and run time of every notebook."""
    seeds = sorted({tuple(e["parameters"]["seeds"]) for e in ledger.values() if "seeds" in e["parameters"]})
    facts = pd.DataFrame(
        [
            ("lmna-scrna version", report["version"]),
            ("profile", report["profile"]),
            ("data folder", shown_path(report["data_dir"])),
            ("data fingerprint", report["data_fingerprint"]),
            ("data source", data_source(ledger)),
            ("seeds", "; ".join(", ".join(map(str, s)) for s in seeds) or "none"),
            ("report finished", report["finished"]),
            ("book built", datetime.now(timezone.utc).isoformat(timespec="seconds")),
            ("Python", sys.version.split()[0]),
        ],
        columns=["item", "value"],
    )
    runs = pd.DataFrame(
        [
            {
                "execution": i,
                "stage": ledger[i]["stage"],
                "seconds": ledger[i]["seconds"],
                "kernel start (s)": ledger[i].get("kernel_start_s", float("nan")),
                "imports (s)": ledger[i].get("imports_s", float("nan")),
            }
            for i in report["executions"]
            if i in ledger
        ]
    )
    total = runs["seconds"].sum() if len(runs) else 0.0
    return (
        "# Provenance\n\n"
        "What produced this book. A notebook's run time is that of its last successful execution; "
        "the runner skips executions whose notebook, parameters and inputs did not change. *Kernel start* is "
        "the time outside every cell (launching the kernel, papermill's own work); *imports* is the set-up cell.\n\n"
        f"{facts.to_markdown(index=False)}\n\n"
        f"## Notebook executions ({len(runs)}, {total:.0f} s of notebook time)\n\n"
        f"{runs.to_markdown(index=False)}\n"
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
