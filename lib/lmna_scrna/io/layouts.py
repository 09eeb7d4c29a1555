"""Where a GSM's 10x files are: every layout the readers accept, and a clear error for anything else.

GEO hands out flat files named ``<GSM>_<unknown middle>_filtered_matrix.mtx.gz``
(plus barcodes and features); a Cell Ranger run leaves per-sample folders
(``filtered_feature_bc_matrix/`` in v3, ``filtered_gene_bc_matrices/<genome>/``
with an uncompressed ``genes.tsv`` in v2, ``outs/per_sample_outs/<sample>/count/``
from ``cellranger multi``) or an HDF5 file (v3+, or v2 with one group per
genome). `find_gsm_files` returns the one set of a GSM as `SampleFiles`;
`tenx` reads it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import MATRIX_KINDS
from ..errors import InputError
from ..paths import require_dir

#: Which 10x matrix set of a GSM is read: Cell Ranger's filtered one (called cells) or the raw one.
MatrixKind = Literal["filtered", "raw"]


#: A GEO sample accession at the start of a file or folder name.
_ACCESSION = re.compile(r"GSM\d+")


#: The name stems of the three files of a matrix triple; v2 calls features "genes".
_TRIPLE = {"matrix": r"matrix\.mtx", "barcodes": r"barcodes\.tsv", "features": r"(?:features|genes)\.tsv"}


@dataclass(frozen=True)
class SampleFiles:
    """The files holding one GSM's matrix; ``barcodes``/``features`` are None for HDF5."""

    gsm: str
    layout: Literal["geo_flat", "cellranger_v3", "cellranger_v2", "h5"]
    matrix: Path
    barcodes: Path | None = None
    features: Path | None = None

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.matrix, self.barcodes, self.features) if p is not None)


def accession(name: str) -> str | None:
    """The GSM accession a file or folder name starts with (None if it does not).

    Comparing whole accessions, not string prefixes, keeps GSM832504 from
    claiming the files of GSM8325046.
    """
    match = _ACCESSION.match(name)
    return match.group(0) if match else None


def find_gsm_files(raw_dir: str | Path, gsm: str, matrix_kind: MatrixKind = "filtered") -> SampleFiles:
    """Locate the one set of 10x files of `gsm` under `raw_dir`, in any supported layout.

    Two candidates (two middles of a flat name, a flat triple beside a folder,
    two genomes) are an error rather than a silent pick, since reading the
    wrong library would quietly mislabel thousands of cells.
    """
    raw_dir = Path(raw_dir)
    if matrix_kind not in MATRIX_KINDS:
        raise InputError(f"matrix_kind {matrix_kind!r} must be one of {', '.join(MATRIX_KINDS)}")
    require_dir(raw_dir, "raw-data folder")
    entries = sorted(p for p in raw_dir.iterdir() if accession(p.name) == gsm)
    files = [p for p in entries if p.is_file()]
    found = _triples(raw_dir, files, gsm, rf"_{matrix_kind}_", "geo_flat") + _h5_files(raw_dir, files, gsm, matrix_kind)
    for folder in (p for p in entries if p.is_dir()):
        found += _cellranger_outputs(folder, gsm, matrix_kind)
    if not found:
        skipped = _skipped(raw_dir, entries, matrix_kind)
        raise InputError(
            f"{gsm}: no {matrix_kind} 10x files in {raw_dir} (looked for {gsm}*_{matrix_kind}_matrix.mtx.gz + barcodes + "
            f"features, {gsm}*/[outs/]{matrix_kind}_feature_bc_matrix/, {gsm}*/{matrix_kind}_gene_bc_matrices/<genome>/, "
            f"{gsm}*/outs/per_sample_outs/*/count/sample_{matrix_kind}_feature_bc_matrix[.h5], the three files in "
            f"{gsm}*/ (filtered only) and {gsm}*{matrix_kind}_feature_bc_matrix.h5 or _gene_bc_matrices_h5.h5)"
            + (f"; skipped: {'; '.join(skipped)}" if skipped else "")
        )
    if len(found) > 1:
        listing = "; ".join(f"{c.layout}: {', '.join(map(str, c.paths))}" for c in found)
        raise InputError(f"{gsm}: {len(found)} candidate sets of {matrix_kind} 10x files, keep one: {listing}")
    return found[0]


def _cellranger_outputs(folder: Path, gsm: str, matrix_kind: MatrixKind) -> list[SampleFiles]:
    """Cell Ranger output of one sample: in the folder itself, its ``outs/``, or each
    ``outs/per_sample_outs/<sample>/count/`` of ``cellranger multi``.

    An untouched output folder holds each matrix twice, as HDF5 beside the
    matrix folder: the HDF5 file is taken (one file, read in one go). Three
    bare files directly in the GSM's folder are taken as its filtered matrix,
    which is what GEO submitters put there.
    """
    found: list[SampleFiles] = []
    per_sample = folder / "outs" / "per_sample_outs"
    roots = [folder, folder / "outs"]
    if per_sample.is_dir():
        roots += sorted(p / "count" for p in per_sample.iterdir())
    for root in filter(Path.is_dir, roots):
        files = sorted(p for p in root.iterdir() if p.is_file())
        h5 = _h5_files(root, files, gsm, matrix_kind)
        matrix_dirs = [root / f"{matrix_kind}_feature_bc_matrix", root / f"sample_{matrix_kind}_feature_bc_matrix"]
        v2 = root / f"{matrix_kind}_gene_bc_matrices"
        if v2.is_dir():
            matrix_dirs += sorted(p for p in v2.iterdir() if p.is_dir())  # one folder per genome
        triples = [
            t for d in filter(Path.is_dir, matrix_dirs) for t in _triples(d, sorted(d.iterdir()), gsm, "^", "cellranger_v3")
        ]
        if root == folder and matrix_kind == "filtered":
            triples += _triples(root, files, gsm, "^", "cellranger_v3")
        found += h5 or triples
    return found


def _skipped(raw_dir: Path, entries: list[Path], matrix_kind: MatrixKind) -> list[str]:
    """Every 10x-looking file of a GSM, with why no layout took it (for the error when none did)."""
    looks_10x = re.compile(r"(?:matrix\.mtx|barcodes\.tsv|features\.tsv|genes\.tsv|\.h5)(?:\.gz)?$")
    other = re.compile(rf"(?:^|[_/]){'raw' if matrix_kind == 'filtered' else 'filtered'}_")
    skipped = []
    for entry in entries:
        for path in sorted(entry.rglob("*")) if entry.is_dir() else [entry]:
            if path.is_file() and looks_10x.search(path.name):
                relative = path.relative_to(raw_dir).as_posix()
                why = "another kind of matrix" if other.search(relative) else "not in a known layout"
                skipped.append(f"{relative} ({why})")
    return skipped


def _h5_files(where: Path, files: list[Path], gsm: str, matrix_kind: MatrixKind) -> list[SampleFiles]:
    pattern = re.compile(rf"(?:^|_){matrix_kind}_(?:feature_bc_matrix|gene_bc_matrices_h5)\.h5$")
    return [SampleFiles(gsm, "h5", path) for path in _one_per_role(where, files, gsm, {"h5": pattern}).values()]


def _triples(
    where: Path, files: list[Path], gsm: str, prefix: str, layout: Literal["geo_flat", "cellranger_v3"]
) -> list[SampleFiles]:
    """The matrix/barcodes/features triple among `files` (empty list if none of them is there).

    GEO names are ``<GSM>…_<matrix_kind>_<stem>`` (`prefix` ``_<matrix_kind>_``); in a Cell
    Ranger matrix folder they are the bare stems (`prefix` ``^``). A partial
    triple is an error: it means a lost download, not a sample without data.
    """
    patterns = {role: re.compile(rf"{prefix}{stem}(?:\.gz)?$") for role, stem in _TRIPLE.items()}
    present = _one_per_role(where, files, gsm, patterns)
    if not present:
        return []
    missing = [role for role in _TRIPLE if role not in present]
    if missing:
        have = ", ".join(p.name for p in present.values())
        raise InputError(f"{gsm}: {have} in {where} lacks its {' and '.join(missing)} file")
    if layout == "cellranger_v3" and present["features"].name.startswith("genes"):
        layout = "cellranger_v2"  # type: ignore[assignment]
    return [SampleFiles(gsm, layout, present["matrix"], present["barcodes"], present["features"])]


def _one_per_role(where: Path, files: list[Path], gsm: str, patterns: dict[str, re.Pattern[str]]) -> dict[str, Path]:
    """The file matching each role's pattern; two files for one role are an error."""
    by_role: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        for role, pattern in patterns.items():
            if pattern.search(path.name):
                by_role[role].append(path)
    clashes = [
        f"{len(by_role[role])} candidate {role} files ({', '.join(p.name for p in by_role[role])})"
        for role in patterns
        if len(by_role[role]) > 1
    ]
    if clashes:
        raise InputError(f"{gsm}: {'; '.join(clashes)} in {where}")
    return {role: paths[0] for role, paths in by_role.items() if paths}
