"""The house rules of the library and the notebooks: imports point downstream, each module does one job,
every package shows one kind of face, and every notebook's parameters cell agrees with the library's defaults."""

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
#: runner → the report's base (words, names, numbers) → results → book.
RANK = {"": 0, "io": 1, "sim": 2, "pp": 3, "tl": 4, "pl": 5, "report.runner": 6, "report": 7, "report.results": 8,
        "report.book": 9, "cli": 10}
REPORT_JOBS = ("runner", "results", "book")
#: Every package with a face: what notebooks, the CLI and other packages import from it.
FACES = ("io", "sim", "pp", "tl", "pl", "report", *(f"report.{job}" for job in REPORT_JOBS))


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


def _top_level(path: Path) -> dict[str, ast.AST]:
    """A module's own names (functions, classes, assigned constants), each with the statement defining it."""
    names: dict[str, ast.AST] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id: node for t in targets if isinstance(t, ast.Name) and t.id != "__all__"}
    return names


def _notebook_code(path: Path) -> str:
    """A notebook's code cells as one Python text (IPython's magics and shell lines left out)."""
    import nbformat

    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    return "\n".join(line for cell in cells for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))


def _face_homes() -> dict[tuple[str, str], str]:
    """(package, name) → the module a face's stub says defines it."""
    homes = {}
    for stub in PACKAGE.rglob("__init__.pyi"):
        package = _module_name(stub.with_suffix(".py"))
        for node in ast.parse(stub.read_text()).body:
            if isinstance(node, ast.ImportFrom):
                homes |= {(package, a.name): f"{package}.{node.module}" for a in node.names}
    return homes


def _consumers() -> dict[str, str]:
    """Everything that uses the library, by name: its modules, the notebooks' code, the benchmark scripts
    (not the tests: a test takes names together to test them, not because they are one job)."""
    code = {name: path.read_text() for name, path in MODULES.items()}
    code |= {path.name: _notebook_code(path) for path in sorted(NOTEBOOKS.glob("*.ipynb"))}
    code |= {path.name: path.read_text() for path in sorted((PROJECT_ROOT / "benchmarks").glob("*.py"))}
    return code


def _uses() -> dict[str, list[set[str]]]:
    """Module → for each consumer, the set of its public names that consumer takes (from the module, through
    a face, or as ``module.name`` after importing the module)."""
    homes, uses = _face_homes(), {name: [] for name in MODULES}
    for consumer, text in _consumers().items():
        package = (consumer if MODULES.get(consumer, Path()).name == "__init__.py" else consumer.rsplit(".", 1)[0]) \
            if consumer in MODULES else ""
        tree, taken = ast.parse(text), {}
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                as_module = f"{target}.{alias.name}"
                if as_module in MODULES:  # `from . import tables`: its names are taken as `tables.name`
                    local = alias.asname or alias.name
                    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                             and isinstance(n.value, ast.Name) and n.value.id == local}
                    taken.setdefault(as_module, set()).update(attrs)
                else:
                    home = homes.get((target, alias.name), target)
                    taken.setdefault(home, set()).add(alias.name)
        for module, names in taken.items():
            if module in MODULES and module != consumer:
                uses[module].append(names)
    return uses


USES = _uses()


def job_families(module: str) -> list[set[str]]:
    """The families of `module`'s public names that its users take; [] for a data contract (no public function)."""
    own = _top_level(MODULES[module])
    public = {n for n in own if not n.startswith("_")}
    if not any(isinstance(own[n], ast.FunctionDef) for n in public):
        return []
    refers = {n: {x.id for x in ast.walk(node) if isinstance(x, ast.Name) and x.id in own and x.id != n}
              for n, node in own.items()}

    def reach(name: str) -> set[str]:
        seen: set[str] = set()
        todo = [name]
        while todo:
            for x in refers[todo.pop()] - seen:
                seen.add(x)
                todo.append(x)
        return seen

    groups = [{n} | reach(n) for n in public] + [set(names) & public for names in USES[module]]
    families: list[set[str]] = []
    for group in groups:  # join every family a group touches
        touching = [f for f in families if f & group]
        families = [f for f in families if not f & group] + [group.union(*touching)]
    taken = set().union(*USES[module]) if USES[module] else set()
    return [f & taken for f in families if f & taken]


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


def test_every_module_does_one_job() -> None:
    """A module is one job: the public names its users take are one family, tied by the users who take them
    together or by the code they share (one calls another, or both call one private helper). A module whose
    names fall into families no user and no code joins is two rooms under one name: split it. A data
    contract (constants and classes, no public function) is one job by definition. Lines are no measure."""
    apart = {name: families for name in MODULES if (families := job_families(name)) and len(families) > 1}
    assert not apart, "modules whose public names are separate jobs:\n" + "\n".join(
        f"  {name}: " + " | ".join(", ".join(sorted(f)) for f in families) for name, families in apart.items())


def test_every_package_shows_one_kind_of_face() -> None:
    """Each face is lazy_loader reading the stub beside it (mypy and IDEs read the same names): names load on
    first use, so a page that reads tables starts no TensorFlow; every name resolves; none is a module."""
    import importlib
    import types

    for face in FACES:
        init = PACKAGE.joinpath(*face.split("."), "__init__.py")
        code = [node for node in ast.parse(init.read_text()).body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        assert [ast.unparse(node) for node in code] == [
            "import lazy_loader", "__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)"], face
        stub = ast.parse(init.with_suffix(".pyi").read_text()).body
        assert all(isinstance(n, ast.ImportFrom) and n.level == 1 and n.module for n in stub[1:]), f"{face}: a module"
        assert all(a.asname == a.name for n in stub[1:] for a in n.names), f"{face}: `name as name` for mypy"
        package = importlib.import_module(f"lmna_scrna.{face}")
        assert package.__all__, face
        for name in package.__all__:
            assert not isinstance(getattr(package, name), types.ModuleType), f"lmna_scrna.{face}.{name} is a module"


def _notebook_imports(path: Path) -> list[ast.ImportFrom]:
    return [n for n in ast.walk(ast.parse(_notebook_code(path)))
            if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("lmna_scrna")]


def test_notebooks_import_the_library_through_its_faces() -> None:
    """A notebook takes names from a package's face (or the shared base: config, paths), never a module behind
    a face, never a module as a name: what it uses is what the face declares, and the face can move it."""
    import importlib

    behind = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for node in _notebook_imports(path):
            module = str(node.module)
            stage = module.removeprefix("lmna_scrna.")
            if stage in FACES:
                declared = set(importlib.import_module(module).__all__)
                behind += [f"{path.name}: {module}.{a.name} is not on its face" for a in node.names if a.name not in declared]
            elif module == "lmna_scrna":
                behind += [f"{path.name}: lmna_scrna.{a.name} has a face" for a in node.names if a.name in FACES]
            elif _stage(module) != "" or module.count(".") != 1:
                behind.append(f"{path.name}: from {module} import … (behind a face)")
    assert not behind, "\n".join(behind)


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


def _imports_of(notebook: str) -> str:
    return "".join(ast.unparse(node) + "\n" for node in _notebook_imports(NOTEBOOKS / f"{notebook}.ipynb"))


@pytest.mark.parametrize("notebook", ["01_prepare", "05_sweep", "06_compare", "08_worlds", "09_donors"])
def test_pages_that_train_nothing_load_neither_tensorflow_nor_scanpy(notebook: str) -> None:
    # These notebooks train nothing: their kernel start plus imports stays under 3 s only if the names they
    # take from the faces keep TensorFlow (3 s) and scanpy (numba, umap: about 1 s) out.
    assert _loaded_after(_imports_of(notebook), {"tensorflow", "keras", "scanpy", "umap"}) == []


@pytest.mark.parametrize("notebook", ["05_sweep", "06_compare", "08_worlds", "09_donors"])
def test_pages_that_read_results_do_not_load_anndata(notebook: str) -> None:
    # The compare, sweep, worlds and donors pages draw tables and figures only: anndata would bring
    # dask.array and zarr with it (0.75 s of a 3 s kernel start), for the one type hint that once needed it.
    assert _loaded_after(_imports_of(notebook), {"anndata", "dask", "zarr"}) == []


@pytest.mark.parametrize("notebook", sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")))
def test_every_code_cell_of_a_notebook_is_valid_python(notebook: str) -> None:
    """A cell that does not parse fails only when the report reaches it, after the hour of work before it."""
    import ast

    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    for cell in nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4).cells:
        if cell.cell_type == "code":
            ast.parse(TransformerManager().transform_cell(cell.source))  # magics as IPython runs them


READS = """
import sys
from pathlib import Path

watched, opened = [Path(p).resolve() for p in sys.argv[1:]], []


def audit(event, args):
    if event == "open" and isinstance(args[0], (str, Path)):
        path = Path(args[0]).resolve()
        if any(path == w or w in path.parents for w in watched):
            opened.append(str(path))


sys.addaudithook(audit)
"""


def _project_files_opened(code: str) -> list[str]:
    """The files of the study and its results (params, notebooks, book, outputs) that running `code` opens."""
    from lmna_scrna.paths import outputs_dir

    watched = [PROJECT_ROOT / "params", NOTEBOOKS, PROJECT_ROOT / "book", outputs_dir()]
    done = subprocess.run([sys.executable, "-c", READS + code + "\nprint(sorted(set(opened)))", *map(str, watched)],
                          capture_output=True, text=True, check=False, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def test_the_reports_modules_read_no_file_at_import() -> None:
    """Importing a table or a page's module reads nothing (the split files are read when a table asks for them),
    so a notebook that imports them early never sees files of another moment than the one it computes in."""
    report = sorted(name for name in MODULES if name.startswith("lmna_scrna.report.") and ".runner" not in name)
    assert _project_files_opened("".join(f"import {name}\n" for name in report)) == []


def test_words_and_names_read_no_file_at_all() -> None:
    """A split's words come from its scheme's registered pattern, a table's from the one mapping: no file."""
    code = ("import pandas as pd\nfrom lmna_scrna.report import names, words\n"
            "names.split_words('dm_t16_v0'), names.split_words('original', short=True), names.split_order('dm_t9_v0')\n"
            "words.for_people(pd.DataFrame({'split': ['dm_t19_v0', 'pooled'], 'test_auc_mean': [0.9, 0.8]}))\n"
            "names.page_title({'notebook': '03_train_A.ipynb', 'split': 'dm_t0_v16', 'parameters': {}})\n")
    assert _project_files_opened(code) == []


def test_a_users_mypy_reads_the_faces_names_and_types(tmp_path: Path) -> None:
    """Outside the project, a notebook's or script's type checker sees what a face offers (py.typed + stubs):
    a name's real signature, and a name no face offers is an error before anything runs."""
    script = tmp_path / "user.py"
    script.write_text("from lmna_scrna.pp import split_name\nfrom lmna_scrna.report.results import report_splits\n"
                      "reveal_type(report_splits)\nreveal_type(split_name)\nfrom lmna_scrna.tl import no_such_name\n")
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
                           "--config-file", "/dev/null", str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert 'user.py:3: note: Revealed type is "def () -> tuple[str, ...]"' in done.stdout, done.stdout
    assert 'user.py:4: note: Revealed type is "def (scheme: str, test_day: int | None =' in done.stdout, done.stdout
    assert 'Module "lmna_scrna.tl" has no attribute "no_such_name"' in done.stdout
    assert "missing library stubs or py.typed" not in done.stdout
