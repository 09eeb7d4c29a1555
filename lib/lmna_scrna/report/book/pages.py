"""What a rendered notebook page shows: results first, code one click away, how to re-make it on top.

The notebooks in ``notebooks/`` stay untagged and runnable as they are; only
the copies the book renders are prepared, at build time, by `prepare_page`:

- the ``parameters`` cell and papermill's ``injected-parameters`` cell are
  removed from the page (``remove-cell``): they hold the build machine's paths,
  and the header box says the same thing in a form a reader can use;
- the set-up cell (imports and configuration: the first code cell after the
  parameters) is hidden whole behind a toggle (``hide-cell``), every other code
  cell's input only (``hide-input``): its results stay on the page;
- stderr output and progress widgets are dropped (under the runner they go
  to the execution's log), and with them the widget state, whose rendering
  would fetch a script from a CDN: the book stays offline;
- a box right under the title names the data the page was built on and the
  exact ``papermill`` command that re-executes it, paths relative to the project.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import nbformat
import yaml

from ... import provenance
from ...paths import PROJECT_ROOT, outputs_dir, shown_path

REMOVED_TAGS = frozenset({"parameters", "injected-parameters"})
HEADER_TAG = "lmna-page-header"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def project_path(path: str | Path) -> str:
    """A project file as a command line names it: relative to the project root.

    A file in a copy of ``params/`` outside the project (the test suite runs on
    one) is named as its place in ``params/``, which is what it stands for.
    """
    path = Path(path)
    if path.resolve().is_relative_to(PROJECT_ROOT) or path.resolve().is_relative_to(outputs_dir().resolve()):
        return shown_path(path)
    parts = path.parts
    if "params" in parts:
        return Path(*parts[len(parts) - parts[::-1].index("params") - 1:]).as_posix()
    return shown_path(path)


def _is_default_data(data_dir: str) -> bool:
    """Whether a report ran on a profile's simulated data, which notebooks find by themselves (raw_dir = None)."""
    path = Path(data_dir)
    return path.parent.resolve() == (outputs_dir() / "data").resolve() and path.name.startswith("simulated_")


def _option(name: str, value: Any) -> list[str]:
    """One papermill option for one parameter: ``-p`` for plain values, ``-y`` for lists and mappings."""
    if isinstance(value, (list, dict)):
        return ["-y", yaml.safe_dump({name: value}, default_flow_style=True).strip()]
    if isinstance(value, str) and (Path(value).is_absolute() or value.endswith((".yaml", ".yml"))):
        value = project_path(value)
    return ["-p", name, str(value)]


def rerun_command(exec_id: str, entry: dict[str, Any], report: dict[str, Any], accepts: frozenset[str]) -> str:
    """The papermill command that re-executes one page, with this execution's own ``-f`` file and ``-p`` overrides.

    The output notebook and each option on a line of its own (shell continuation lines), so the command
    fits the page and copies as it is.
    """
    options = [["papermill", f"notebooks/{entry['notebook']}"], [f"outputs/notebooks/{exec_id}.ipynb"]]
    from_file: dict[str, Any] = {}
    if entry.get("params_file"):
        options.append(["-f", project_path(entry["params_file"])])
        from_file = yaml.safe_load(Path(entry["params_file"]).read_text()) or {}
    for name, value in sorted(entry["parameters"].items()):
        if name not in from_file or from_file[name] != value:
            options.append(_option(name, value))
    if "raw_dir" in accepts and not _is_default_data(report["data_dir"]):
        options.append(_option("raw_dir", report["data_dir"]))
    elif "sim_size" in accepts and "sim_size" not in entry["parameters"]:
        size = Path(report["data_dir"]).name.removeprefix("simulated_")  # the runner passed the folder, not its size
        if size != "full":  # the notebooks' default
            options.append(_option("sim_size", size))
    return " \\\n    ".join(shlex.join(option) for option in options)


def header_markdown(exec_id: str, entry: dict[str, Any], report: dict[str, Any], source: str,
                    accepts: frozenset[str]) -> str:
    """The box under a page's title: data, date, and the command that re-executes the page."""
    return (
        ":::{admonition} How this page was made\n:class: note\n"
        f"Executed on {entry['finished'][:10]} on the **{source}** data `{shown_path(report['data_dir'])}` "
        f"(fingerprint `{report['data_fingerprint'][:12]}`) with lmna-scrna {report['version']}, in "
        f"{entry['seconds']:.0f} s. From the project folder, this re-executes the page:\n\n"
        f"```bash\n{rerun_command(exec_id, entry, report, accepts)}\n```\n"
        "The code behind each result is one click away (the *Show code cell* toggles); the download button at the "
        "top of the page gives the executed notebook.\n:::"
    )


def _add_tag(cell: nbformat.NotebookNode, tag: str) -> None:
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def _noise(output: nbformat.NotebookNode) -> bool:
    """An output that is no result: a stderr stream or a (progress) widget."""
    if output.output_type == "stream":
        return output.get("name") == "stderr"
    return WIDGET_MIME in output.get("data", {})


def prepare_page(nb: nbformat.NotebookNode, header: str) -> nbformat.NotebookNode:
    """Tag and clean an executed notebook for reading, and put `header` right under its title."""
    setup_seen = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & REMOVED_TAGS:
            _add_tag(cell, "remove-cell")
        else:
            _add_tag(cell, "hide-input" if setup_seen else "hide-cell")
            setup_seen = True
        cell.outputs = [o for o in cell.get("outputs", []) if not _noise(o)]
    nb.metadata.pop("widgets", None)
    box = nbformat.v4.new_markdown_cell(header, metadata={"tags": [HEADER_TAG]})
    at = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("# ")), None)
    if at is None:
        nb.cells.insert(0, box)
        return nb
    title, _, rest = nb.cells[at].source.partition("\n")
    nb.cells[at].source = title
    nb.cells[at + 1:at + 1] = [box] + ([nbformat.v4.new_markdown_cell(rest.strip("\n"))] if rest.strip() else [])
    return nb


def provenance_line(report: dict[str, Any], source: str) -> str:
    """The intro's one-line citation of this build: data, fingerprint, version, commit, CPU, date, and the
    provenance page (which lists every package and the wall time of each stage)."""
    commit = provenance.commit()
    short = commit if commit.startswith(provenance.NO_CHECKOUT) else commit[:12] + commit[40:]
    processor = provenance.cpu()
    return (
        f"*Built on the {source} data (fingerprint `{report['data_fingerprint'][:12]}`, profile "
        f"`{report['profile']}`) with lmna-scrna {report['version']} (commit {short}) on CPU {processor['model']} "
        f"with {provenance.vector_words(processor['flags'])}, report finished {report['finished'][:10]}; "
        "full provenance: {doc}`/generated/provenance`.*\n"
    )
