"""The two install routes agree, and committed notebooks are clean papermill templates."""

from __future__ import annotations

import re
import tomllib

import nbformat
import pytest
import yaml

from lmna_scrna.paths import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;,]+)$")


def normalise(name: str) -> str:
    """PEP 503 name, so `PyYAML` and `pyyaml`, `jupyter_book` and `jupyter-book` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: list[str], source: str) -> dict[str, str]:
    """name -> version; every requirement must be an exact pin for the environment to be reproducible."""
    out: dict[str, str] = {}
    for requirement in requirements:
        match = PIN.match(requirement.strip())
        assert match, f"{source}: {requirement!r} is not pinned as name==version"
        assert normalise(match[1]) not in out, f"{source}: {match[1]} listed twice"
        out[normalise(match[1])] = match[2]
    return out


def test_pyproject_and_environment_yml_pin_the_same_packages():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    from_pyproject = pins(project["dependencies"] + project["optional-dependencies"]["test"], "pyproject.toml")
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    requirements = [r for r in pip_sections[0] if not r.startswith("-")]  # `-e .` installs the project itself
    from_env = pins(requirements, "environment.yml")
    only_pyproject = {k: v for k, v in from_pyproject.items() if from_env.get(k) != v}
    only_env = {k: v for k, v in from_env.items() if from_pyproject.get(k) != v}
    assert only_pyproject == only_env == {}, f"pyproject.toml has {only_pyproject}, environment.yml has {only_env}"
    assert "-e ." in pip_sections[0], "environment.yml must install the project (-e .)"


def test_environment_yml_python_matches_requires_python():
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert "python=3.11" in env["dependencies"] and ">=3.11" in project["requires-python"]


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
