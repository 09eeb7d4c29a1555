"""The house rules of the library and the notebooks: imports point downstream, modules stay small,
and every notebook's parameters cell agrees with the library's defaults."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import papermill
import pytest

from lmna_scrna.config import PrepParams, TrainConfig
from lmna_scrna.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "lib" / "lmna_scrna"
NOTEBOOKS = PROJECT_ROOT / "notebooks"
#: Data flows io → sim → pp → tl → pl → report; the shared base (errors, paths, …) is below all, the CLI above.
#: The simulator sits on io (the sheet, the raw-folder checks) and writes the files io reads; tl (calibration,
#: world fit), the report and the CLI run it, pp never does. Inside the report, one package per job:
#: runner → labels (the report's base) → results → book.
RANK = {"": 0, "io": 1, "sim": 2, "pp": 3, "tl": 4, "pl": 5, "report.runner": 6, "report": 7, "report.results": 8,
        "report.book": 9, "cli": 10}
REPORT_JOBS = ("runner", "results", "book")
MAX_LINES = 360  # "about 350": a module past it does more than one job


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every lmna_scrna module `path` imports, at any depth of the file (lazy imports count too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found |= {t for t in targets if t.startswith("lmna_scrna") and _file(t) is not None}
    return found - {name}


def _file(module: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return ""
    if parts[1] == "report" and len(parts) > 2 and parts[2] in REPORT_JOBS:
        return f"report.{parts[2]}"
    return parts[1] if parts[1] in RANK else ""


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_imports_point_downstream_only() -> None:
    upstream = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if RANK[_stage(target)] > RANK[_stage(name)]
    ]
    assert not upstream


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        assert state.get(node) != 1, "import cycle: " + " → ".join([*trail, node])
        state[node] = 1
        for target in sorted(GRAPH.get(node, ())):
            # a package's __init__ importing its own modules is how it re-exports them, not a cycle
            if not target.startswith(node + "."):
                visit(target, [*trail, node])
        state[node] = 2

    for module in GRAPH:
        visit(module, [])


def test_no_module_is_too_long() -> None:
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_every_stage_package_declares_its_verbs() -> None:
    import importlib

    for stage in ("io", "pp", "tl", "pl", *(f"report.{job}" for job in REPORT_JOBS)):
        package = importlib.import_module(f"lmna_scrna.{stage}")
        assert package.__all__, stage
        for name in package.__all__:
            assert getattr(package, name) is not None, f"lmna_scrna.{stage}.{name}"


def test_notebooks_import_the_report_through_its_faces() -> None:
    """A notebook reaches the report through a job's package (or the labels and numbers), never a module behind it."""
    import nbformat

    faces = {f"lmna_scrna.report.{job}" for job in (*REPORT_JOBS, "labels", "numbers")}
    behind = [
        f"{path.name}: {line.strip()}"
        for path in sorted(NOTEBOOKS.glob("*.ipynb"))
        for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if line.lstrip().startswith("from lmna_scrna.report") and line.split()[1] not in faces
    ]
    assert not behind


@pytest.mark.parametrize("notebook", sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")))
def test_papermill_reads_every_line_of_each_parameters_cell(notebook: str) -> None:
    """A line papermill cannot parse (e.g. `=` in a comment) silently drops that parameter from the plan."""
    import nbformat

    nb = nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = {line.split("=")[0].strip() for line in cell.source.splitlines() if line and not line.startswith("#")}
    assert set(papermill.inspect_notebook(str(NOTEBOOKS / f"{notebook}.ipynb"))) == assigned


def _defaults(notebook: str) -> dict[str, object]:
    declared = papermill.inspect_notebook(str(NOTEBOOKS / f"{notebook}.ipynb"))
    return {name: ast.literal_eval(p["default"]) for name, p in declared.items()}


@pytest.mark.parametrize(
    ("notebook", "defaults"),
    [
        ("01_prepare", PrepParams()),
        ("03_train_A", dataclasses.replace(TrainConfig(), model="A")),
        ("04_train_B", dataclasses.replace(TrainConfig(), model="B")),
    ],
)
def test_parameters_cell_defaults_equal_the_library_defaults(notebook: str, defaults: object) -> None:
    declared = _defaults(notebook)
    expected = {k: v for k, v in dataclasses.asdict(defaults).items() if k not in ("model", "seed") or k in declared}
    assert {k: declared[k] for k in expected} == expected


def test_training_notebooks_differ_only_in_the_model_and_its_day_head() -> None:
    import nbformat

    def sources(name: str) -> list[str]:
        return [c.source for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells]

    a, b = sources("03_train_A"), sources("04_train_B")
    only_b = [s for s in b if s not in a]
    only_a = [s for s in a if s not in b]
    assert len(only_a) == 2 and len(only_b) == 4  # title; model line; B: + day-head text and cell
    assert any('MODEL = "B"' in s for s in only_b) and any("## Day head" in s for s in only_b)


@pytest.mark.parametrize(
    ("notebook", "names"),
    [
        ("01_prepare", {"matrix_kind"}),
        ("03_train_A", {"arch", "widths", "conv_filters", "kernel_size", "pool_size", "loss_geno", "threshold"}),
        ("04_train_B", {"arch", "widths", "conv_filters", "kernel_size", "pool_size", "loss_geno", "threshold"}),
    ],
)
def test_the_paper_codes_options_are_notebook_parameters(notebook: str, names: set[str]) -> None:
    """The options taken from the paper's code reach the notebooks by the same path as the others."""
    assert names <= set(_defaults(notebook))


def _loaded_after(imports: str, packages: set[str]) -> list[str]:
    """Which of `packages` a fresh interpreter holds after running `imports`."""
    code = f"import sys\n{imports}print(sorted({{m.split('.')[0] for m in sys.modules}} & {packages!r}))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return ast.literal_eval(done.stdout.strip())


def test_drawing_preparing_and_reading_results_load_neither_tensorflow_nor_scanpy() -> None:
    # The prepare, compare and sweep notebooks train nothing: their kernel start plus imports stays under 3 s
    # only if these faces keep TensorFlow (3 s) and scanpy (numba, umap: about 1 s) out.
    imports = (
        "import lmna_scrna.io, lmna_scrna.pl, lmna_scrna.pp\n"
        "from lmna_scrna.pp import fit_split, make_split, write_split\n"
        "from lmna_scrna.report.labels import show_table\n"
        "from lmna_scrna.report.results import library_tables, paper, tables\n"
        "from lmna_scrna.report.runner import notebook_logging\n"
    )
    assert _loaded_after(imports, {"tensorflow", "keras", "scanpy", "umap"}) == []


def test_pages_that_read_results_do_not_load_anndata() -> None:
    # The compare, sweep and calibration summary pages draw tables and figures only: anndata would bring
    # dask.array and zarr with it (0.75 s of a 3 s kernel start), for the one type hint that once needed it.
    imports = (
        "import lmna_scrna.pl\n"
        "from lmna_scrna.report.labels import show_table\n"
        "from lmna_scrna.report.results import library_tables, paper, tables\n"
        "from lmna_scrna.report.runner import load_sweep\n"
    )
    assert _loaded_after(imports, {"anndata", "dask", "zarr"}) == []


@pytest.mark.parametrize("notebook", sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")))
def test_every_code_cell_of_a_notebook_is_valid_python(notebook: str) -> None:
    """A cell that does not parse fails only when the report reaches it, after the hour of work before it."""
    import ast

    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    for cell in nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4).cells:
        if cell.cell_type == "code":
            ast.parse(TransformerManager().transform_cell(cell.source))  # magics as IPython runs them
