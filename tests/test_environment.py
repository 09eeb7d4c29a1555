"""The environment is locked and both install routes take the lock; committed notebooks are clean templates."""

from __future__ import annotations

import re
import tomllib

import nbformat
import pytest
import yaml

from lmna_scrna.paths import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;,]+)$")
#: One package of requirements.lock: `name==version [; marker] \` on its first line, its hashes below.
LOCKED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
LOCK = PROJECT_ROOT / "requirements.lock"


def normalise(name: str) -> str:
    """PEP 503 name, so `PyYAML` and `pyyaml`, `jupyter_book` and `jupyter-book` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: list[str], source: str) -> dict[str, str]:
    """name -> version; every requirement must be an exact pin for the environment to be reproducible."""
    out: dict[str, str] = {}
    for requirement in requirements:
        match = PIN.match(requirement.split("#")[0].strip())
        assert match, f"{source}: {requirement!r} is not pinned as name==version"
        assert normalise(match[1]) not in out, f"{source}: {match[1]} listed twice"
        out[normalise(match[1])] = match[2]
    return out


def project_pins(pyproject: str) -> dict[str, str]:
    """Every top-level pin of pyproject.toml, the test extras included (the lock resolves both)."""
    project = tomllib.loads(pyproject)["project"]
    return pins(project["dependencies"] + project["optional-dependencies"]["test"], "pyproject.toml")


def locked(lock: str) -> dict[str, tuple[str, str | None, int]]:
    """name -> (version, marker or None, number of hashes) for each package of a uv/pip-compile lock."""
    out: dict[str, tuple[str, str | None, int]] = {}
    current = ""
    for line in lock.splitlines():
        match = LOCKED.match(line)
        if match:
            current = normalise(match[1])
            out[current] = (match[2], match[3], 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, marker, hashes = out[current]
            out[current] = (version, marker, hashes + 1)
    return out


def lock_drift(pyproject: str, lock: str) -> list[str]:
    """Each pin of pyproject.toml that the lock does not hold at that version, as a sentence (empty: in sync)."""
    held = locked(lock)
    return [
        f"{name}=={version} is pinned, the lock has {held[name][0] if name in held else 'no ' + name}: run make lock"
        for name, version in sorted(project_pins(pyproject).items())
        if held.get(name, ("",))[0] != version
    ]


def test_the_lock_holds_every_pin_of_pyproject_at_its_version():
    assert lock_drift((PROJECT_ROOT / "pyproject.toml").read_text(), LOCK.read_text()) == []


def test_a_pin_changed_or_added_without_relocking_is_caught():
    pyproject, lock = (PROJECT_ROOT / "pyproject.toml").read_text(), LOCK.read_text()
    numpy = project_pins(pyproject)["numpy"]
    bumped = pyproject.replace(f'"numpy=={numpy}"', '"numpy==0.0.1"')
    assert bumped != pyproject
    assert lock_drift(bumped, lock) == [f"numpy==0.0.1 is pinned, the lock has {numpy}: run make lock"]
    added = pyproject.replace('dependencies = [\n', 'dependencies = [\n    "not-a-locked-package==1.0",\n', 1)
    assert lock_drift(added, lock) == ["not-a-locked-package==1.0 is pinned, the lock has no not-a-locked-package: "
                                       "run make lock"]


def test_every_locked_package_is_hashed_and_the_lock_says_how_it_was_made():
    lock = LOCK.read_text()
    unhashed = sorted(name for name, (_, _, hashes) in locked(lock).items() if hashes == 0)
    assert unhashed == [], f"requirements.lock: {unhashed} carry no --hash (pip --require-hashes would refuse them)"
    assert len(locked(lock)) > len(project_pins((PROJECT_ROOT / "pyproject.toml").read_text())), "lock holds pins only"
    assert lock.splitlines()[1].strip() == "#    make lock", "requirements.lock must be written by `make lock`"


def test_this_environment_is_the_locked_one():
    """The suite runs in what `make setup` installed: every locked package that applies here, at its version."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.markers import Marker

    wrong = {}
    for name, (want, marker, _) in locked(LOCK.read_text()).items():
        if marker and not Marker(marker).evaluate():
            continue
        try:
            have = version(name)
        except PackageNotFoundError:
            have = "missing"
        if have != want:
            wrong[name] = f"{have} installed, {want} locked"
    assert wrong == {}, f"not the locked environment (make setup installs it): {wrong}"


def test_environment_yml_installs_the_lock_on_the_python_it_was_made_for():
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_sections == [["--require-hashes", "-r requirements.lock"]], "environment.yml: pip installs the lock"
    assert "python=3.12" in env["dependencies"] and project["requires-python"] == ">=3.12"
    assert "--python-version 3.12" in (PROJECT_ROOT / "Makefile").read_text(), "the lock is resolved for 3.12"


def test_licence_and_citation_agree_with_the_package_and_the_book():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    citation = yaml.safe_load((PROJECT_ROOT / "CITATION.cff").read_text())
    assert (PROJECT_ROOT / "LICENSE").read_text().startswith(f"{project['license']} License\n")
    assert (citation["cff-version"], citation["license"], citation["version"]) == ("1.2.0", project["license"],
                                                                                  project["version"])
    bib = (PROJECT_ROOT / "book" / "references.bib").read_text()
    paper = re.search(r"@misc\{karpe2026,.*?title = \{(.+?)\},\n", bib, re.S)
    assert paper, "book/references.bib lost the paper's entry"
    titles = [r["title"] for r in citation["references"]]
    assert paper[1].replace("{", "").replace("}", "") in titles, "CITATION.cff must name the paper it re-creates"


def test_notebook_folder_is_scanned():
    assert (PROJECT_ROOT / "notebooks").is_dir()
    assert all(p.suffix == ".ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_is_a_clean_template(path):
    """No outputs or execution counts (diffs stay readable, no stale numbers) and a `parameters` cell for papermill."""
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters', has {len(tagged)}"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"
