"""The book's generated pages and its rebuild stamp, on fake runs (no jupyter-book call)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anndata
import nbformat
import numpy as np
import pytest
from _run_fixtures import fake_run

from lmna_scrna import provenance
from lmna_scrna.errors import InputError, LmnaError
from lmna_scrna.paths import PROJECT_ROOT, book_index, processed_path
from lmna_scrna.report.book import build as book
from lmna_scrna.report.book.claims import inverted
from lmna_scrna.report.book.findings import findings, page_values
from lmna_scrna.report.numbers import difference_text
from lmna_scrna.report.results import tables

IDS = ["prepare_dm_t19_v0", "train_A_dm_t19_v0", "train_A_original", "compare"]
SPLITS = {"prepare_dm_t19_v0": "dm_t19_v0", "train_A_dm_t19_v0": "dm_t19_v0", "train_A_original": "original"}


@pytest.fixture()
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake runs of every report split, a processed file, executed notebooks and a ledger."""
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    for i, split in enumerate([*tables.report_splits(), tables.default_leakage_split()]):
        fake_run(f"{split}_A", 0.1 * i - 0.2)
        fake_run(f"{split}_B", 0.1 * i, model="B")
    processed_path("dm_t19_v0").parent.mkdir(parents=True)
    anndata.AnnData(np.zeros((1, 1), dtype=np.float32), uns={"source": "simulated"}).write_h5ad(
        processed_path("dm_t19_v0"))
    notebooks = tmp_path / "outputs" / "notebooks"
    notebooks.mkdir(parents=True)
    executions = {}
    for exec_id in IDS:
        name = {"prepare": "01_prepare.ipynb", "train": "03_train_A.ipynb", "compare": "06_compare.ipynb"}[
            exec_id.split("_")[0]]
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 03 · Model A\n\ntext")])
        nb.metadata["papermill"] = {"end_time": "2026-01-01T00:00:00", "exception": None}  # finished, as the runner's
        nbformat.write(nb, notebooks / f"{exec_id}.ipynb")
        executions[exec_id] = {"key": exec_id, "notebook": name, "stage": "train", "seconds": 1.5,
                               "finished": "2026-01-01T00:00:00+00:00",
                               "split": SPLITS.get(exec_id), "parameters": {"seeds": [1, 2]}}
    ledger = {"executions": executions, "report": {
        "profile": "smoke", "data_dir": "/data", "data_fingerprint": "abc123", "version": "0.1.0",
        "executions": IDS, "finished": "2026-01-01T00:00:00+00:00", "seconds": 6.0, "executed": IDS}}
    (notebooks / "ledger.json").write_text(json.dumps(ledger))
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    shutil.copytree(PROJECT_ROOT / "book" / "parts", tmp_path / "book" / "parts")
    return tmp_path


def test_the_comparison_page_glues_numbers_texts_and_claims_from_the_runs(report: Path) -> None:
    f = findings()
    values = page_values(f, "simulated")
    assert values["data_words"] == "the simulated default data, not the real study"
    assert values["original_auc"] == f["original_auc"] and values["day_matched_auc"] == f["day_matched_auc"]
    assert values["original_inverted"].word == inverted(f["original_auc"])
    assert values["paper_original_inverted"].word == "inverted (below 0.5)" and values["paper_dm_range"] == "0.820–0.944"
    assert values["b_vs_a_verdict"].word == f["b_vs_a"]["verdict"], "the page's verdict is the table's"
    assert values["b_vs_a_mean"] == difference_text(f["b_vs_a"]["mean"]) and "-" not in values["b_vs_a_interval"]
    lo, hi = f["day_matched_ci"]
    assert values["day_matched_width"].word == ("wide" if hi - lo > 0.1 else "narrow")
    calls = f["calls"]["A"]
    assert values["calls_A"].word.startswith("it also called all" if calls["right"] >= calls["total"] else
                                             "it called only")
    assert all(not isinstance(v, float) or v == v for v in values.values())


def test_provenance_lists_version_fingerprint_seeds_and_every_execution(report: Path) -> None:
    whole = json.loads((report / "outputs/notebooks/ledger.json").read_text())
    text = book.provenance_markdown(whole["report"], whole["executions"])
    for needle in ("0.1.0", "abc123", "smoke", "1, 2", "simulated", *IDS):
        assert needle in text


def test_provenance_page_cites_packages_cpu_threads_commit_and_each_stage_s_wall_time(report: Path) -> None:
    whole = json.loads((report / "outputs/notebooks/ledger.json").read_text())
    executions = whole["executions"]
    executions["compare"] |= {"stage": "compare", "seconds": 40.0}
    text = book.provenance_markdown(whole["report"], executions)
    env = provenance.environment()
    for name in ("tensorflow", "keras", "numpy", "scipy", "anndata", "scanpy", "papermill", "jupyter-book"):
        assert f"| {name} " in text and env["packages"][name] in text, name
    assert env["cpu"] in text and env["cpu_flags"] in text and env["commit"] in text
    assert f"Every package installed ({len(env['installed'])})" in text and "threadpoolctl" in text
    assert "| thread budget per notebook kernel" in text
    stages = text.split("## Wall time of each stage")[1].split("##")[0]
    assert "| train " in stages and "4.5" in stages  # three train executions of 1.5 s
    assert "| compare " in stages and "40.0" in stages
    dirty = dict(env, commit="0" * 40 + " + uncommitted changes")
    assert "+ uncommitted changes" in book.provenance_markdown(whole["report"], executions, dirty)


def fake_jupyter_book(calls: list[Path]):
    """`jupyter-book build` writing only its index page (the real one: tests/test_report_e2e.py, and below)."""
    def build(book_dir: Path) -> None:
        calls.append(book_dir)
        (book_dir / "_build" / "html").mkdir(parents=True, exist_ok=True)
        (book_dir / "_build" / "html" / "index.html").write_text(f"<html>build {len(calls)}</html>")
    return build


def test_build_copies_labels_and_skips_an_unchanged_book(report: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(book, "_jupyter_book", fake_jupyter_book(calls))
    index = book.build_book(report / "book")
    built = book_index().parents[2]
    assert index == book_index() and built.parent == report / "outputs" and len(calls) == 1  # beside its runs
    assert sorted(p.name for p in (report / "book").iterdir()) == ["intro.md", "parts"]  # the sources are only read
    copied = nbformat.read(built / "notebooks" / "train_A_original.ipynb", as_version=4)
    assert copied.cells[0].source == "# Model A (genotype only) — original split"  # in words, not the execution id
    other = nbformat.read(built / "notebooks" / "train_A_dm_t19_v0.ipynb", as_version=4)
    assert other.cells[0].source == "# Model A (genotype only) — test day 19, validation day 0"
    single = nbformat.read(built / "notebooks" / "compare.ipynb", as_version=4)
    assert single.cells[0].source == "# 03 · Model A"  # ran once: title kept
    assert "Provenance" in (built / "generated" / "provenance.md").read_text()
    assert copied.cells[1].metadata["tags"] == ["lmna-page-header"]  # prepared for reading (test_book_pages)
    assert "papermill notebooks/03_train_A.ipynb" in copied.cells[1].source
    headline = (built / "generated" / "headline.md").read_text()
    assert headline.startswith("*Not available in this build (headline)") and "figure2_auc_by_split.png" in headline

    book.build_book(report / "book")
    assert len(calls) == 1, "an unchanged book was rebuilt"
    (report / "book" / "intro.md").write_text("# Intro, edited\n")
    book.build_book(report / "book")
    assert len(calls) == 2 and (built / "intro.md").read_text() == "# Intro, edited\n"
    ledger_file = report / "outputs/notebooks/ledger.json"
    whole = json.loads(ledger_file.read_text())
    whole["executions"]["compare"]["finished"] = "2026-01-02T00:00:00+00:00"  # run again, same key (a hand run undone)
    ledger_file.write_text(json.dumps(whole))
    book.build_book(report / "book")
    assert len(calls) == 3
    assert not [p for p in (report / "outputs").iterdir() if p.name.startswith(".book")]  # no staging left


def test_a_cut_executed_notebook_stops_the_build_and_keeps_the_last_good_book(report: Path) -> None:
    """A real `jupyter-book build` (staged), then a cut notebook: one line naming it, the last book untouched."""
    (report / "book" / "_config.yml").write_text("title: t\nexecute:\n  execute_notebooks: 'off'\n")
    (report / "book" / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n- glob: notebooks/*\n")
    index = book.build_book(report / "book")
    assert index == book_index() and (index.parent / "notebooks" / "compare.html").is_file()
    good = {p: p.read_bytes() for p in index.parent.rglob("*.html")}

    notebook = report / "outputs" / "notebooks" / "compare.ipynb"
    notebook.write_bytes(notebook.read_bytes()[:100])
    (report / "book" / "intro.md").write_text("# Intro, edited\n")  # a rebuild is due
    with pytest.raises(InputError) as refused:
        book.build_book(report / "book")
    message = str(refused.value)
    assert "\n" not in message and "execution compare: its executed notebook outputs/notebooks/compare.ipynb is cut" in message
    assert "marked stale" in message and "lmna-scrna report" in message
    assert {p: p.read_bytes() for p in index.parent.rglob("*.html")} == good
    assert "compare" not in json.loads((report / "outputs/notebooks/ledger.json").read_text())["executions"]
    assert not [p for p in (report / "outputs").iterdir() if p.name.startswith(".book")]


def test_a_failed_build_keeps_the_last_good_book_and_two_outputs_folders_two_books(
        report: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    calls: list[Path] = []
    monkeypatch.setattr(book, "_jupyter_book", fake_jupyter_book(calls))
    first = book.build_book(report / "book")

    def broken(book_dir: Path) -> None:
        (book_dir / "_build" / "html").mkdir(parents=True)
        (book_dir / "_build" / "html" / "index.html").write_text("half")
        raise LmnaError("jupyter-book build failed")

    monkeypatch.setattr(book, "_jupyter_book", broken)
    (report / "book" / "intro.md").write_text("# Intro, edited\n")
    with pytest.raises(LmnaError):
        book.build_book(report / "book")
    assert first.read_text() == "<html>build 1</html>" and (report / "outputs/book/intro.md").read_text() == "# Intro\n"

    monkeypatch.setattr(book, "_jupyter_book", fake_jupyter_book(calls))
    shutil.copytree(report / "outputs", report / "other", ignore=shutil.ignore_patterns("book"))
    monkeypatch.setenv("LMNA_OUTPUTS", str(report / "other"))
    second = book.build_book(report / "book")
    assert second == book_index() != first and second.is_relative_to(report / "other")
    assert first.read_text() == "<html>build 1</html>" and second.read_text() == "<html>build 2</html>"


def test_build_before_any_report_says_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    with pytest.raises(InputError, match="lmna-scrna report"):
        book.build_book(tmp_path / "book")
    assert not (tmp_path / "book").exists()


def test_building_the_book_imports_no_tensorflow(report: Path) -> None:
    """`lmna-scrna book` reads finished runs only: its generated pages never start TensorFlow (or Keras)."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path\n"
        "from lmna_scrna.report.book import build as book\n"
        "def fake(book_dir):\n"
        "    (book_dir / '_build' / 'html').mkdir(parents=True, exist_ok=True)\n"
        "    (book_dir / '_build' / 'html' / 'index.html').write_text('<html></html>')\n"
        "book._jupyter_book = fake\n"
        "import lmna_scrna.cli\n"
        f"book.build_book(Path({str(report / 'book')!r}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout[-2000:]


def test_mathjax_is_served_from_the_book_itself() -> None:
    """The book's formulas render offline: MathJax comes from a pinned package copied into _static, not a CDN."""
    import importlib
    import importlib.util

    import yaml

    from lmna_scrna.report.book.build import BOOK_DIR

    sphinx = yaml.safe_load((BOOK_DIR / "_config.yml").read_text())["sphinx"]
    assert "sphinx-mathjax-offline" in sphinx["extra_extensions"]
    assert "mathjax_path" not in sphinx.get("config", {}), "a mathjax_path in the config would override the local copy"
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    assert spec is not None, "sphinx-mathjax-offline is not installed: `make setup`"
    extension = importlib.import_module("sphinx-mathjax-offline")
    assert (Path(spec.origin).parent / "static" / "mathjax" / "tex-chtml.js").is_file()

    class App:  # what the extension's setup touches
        config = type("Config", (), {})()
        connect = staticmethod(lambda event, handler: None)

    extension.setup(App)
    assert not App.config.mathjax_path.startswith(("http:", "https:", "//"))
