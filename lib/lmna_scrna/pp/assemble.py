"""Assemble one split's processed AnnData from the per-GSM cache (paper §2.4.3–2.4.5).

Pass 1 makes sure every GSM of the split is cached (parsing only on a miss)
and sums the train cells' per-gene statistics; the HVG list and scaling are
fitted on those sums alone, then pass 2 applies them unchanged to every GSM,
one at a time. Val/test counts therefore cannot influence the features, and
peak memory is one GSM's log-normalised matrix plus the (cells × HVG) output.

The written .h5ad is the contract with training:

* ``X``: float32 CSR, cells × HVGs, divided by the train std and clipped, not centered;
* ``obs``: gsm, condition, day, replicate, partition (train, val or test), y_geno, y_day, barcode;
  index "<gsm>:<barcode>"; cells ordered by GSM accession, then as in the GSM's files;
* ``var``: index gene_id; gene_id, symbol, mean, std (train-fitted; std 0 → 1);
* ``uns``: ``params`` (PrepParams as a dict); ``split`` (name, scheme, unit, train,
  val, test, test_day, val_day, plus fractions for random_cells; a day the
  split does not use is stored as -1 because HDF5 cannot hold None);
  ``qc`` (lists over GSMs: gsm, cells_raw, cells_qc, cells_kept, mean_pct_mt
  over all raw cells); ``input_fingerprints`` (GSM → fingerprint of its
  files); ``fingerprint`` (hash of inputs, params and split); ``source``
  ("simulated" when the raw folder has ground_truth.json, else "real");
  ``version`` (of lmna_scrna); ``provenance`` (`provenance.compact`: versions of
  the packages that shape the numbers, Python, OS, CPU model and flags, cores,
  thread budget and the project's commit, which reads "+ uncommitted changes"
  when the tree differs from it).

`load_processed` reads the contract back for training; nothing else parses the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata.io import write_elem
from tqdm.auto import tqdm

from .. import __version__, provenance
from ..atomic import hdf5_on_disk
from ..config import PrepParams
from ..errors import InputError, one_line
from ..io.raw_folder import gene_list_problem
from ..paths import cache_dir as default_cache_dir, require_file
from .genes import FeatureScaling, GeneStats, fit_scaling, gene_table, hvg_flavor
from .gsm_pass import CachedGSM, ProcessedGSM, load_gsms
from .row_blocks import csr_bytes, stack_rows, write_rows
from .splits import Split, assign_cells, require_gsms

log = logging.getLogger(__name__)

#: Stored in uns for a test_day/val_day a split does not use (HDF5 has no None).
NO_DAY = -1
#: Bytes an .h5ad spends per cell beside X (obs columns, categories): 160 measured on the full data, doubled.
OBS_BYTES_PER_CELL = 320


def cache_split(
    raw_dir: Path, split: Split, sheet: pd.DataFrame, params: PrepParams, cache_dir: Path | None = None
) -> dict[str, CachedGSM]:
    """Pass 1: the cached per-GSM result of every GSM of the split, in accession order."""
    params.check()
    hvg_flavor(params.hvg_flavor)  # an unknown flavour is named now, not after the per-GSM pass
    require_gsms(sheet, split.gsms, split.name)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cached = load_gsms(Path(raw_dir), split.gsms, params, cache_dir)
    problem = gene_list_problem({gsm: c.gene_ids for gsm, c in cached.items()})
    if problem is not None:
        raise InputError(problem)
    return cached


#: A per-GSM result as split assembly reads it: cached on disk, or held in memory.
GSMResult = CachedGSM | ProcessedGSM


def cell_partitions(cached: dict[str, GSMResult], split: Split, seed: int) -> dict[str, np.ndarray]:
    """The partition label of every kept cell of every GSM."""
    return {gsm: assign_cells(split, gsm, c.n_kept, seed) for gsm, c in cached.items()}


def train_stats(cached: dict[str, GSMResult], partitions: dict[str, np.ndarray]) -> GeneStats:
    """Summed per-gene statistics of the train cells only.

    A GSM wholly in train contributes its cached sums (no matrix load); a GSM
    split across partitions (random_cells) contributes its train rows' sums,
    recomputed from the cached matrix.
    """
    total = GeneStats.zeros(next(iter(cached.values())).gene_ids.size)
    for gsm, c in cached.items():
        is_train = partitions[gsm] == "train"
        if is_train.all():
            total = total + c.stats
        elif is_train.any():
            total = total + GeneStats.from_matrix(c.load_X()[np.flatnonzero(is_train)])
    if total.n_cells == 0:
        raise InputError("the split has no train cells")
    return total


@dataclass(frozen=True)
class FittedSplit:
    """The outcome of pass 1, computed once and read by everything that describes the split.

    The processed .h5ad (`write_split`), the QC table and the gene table all
    come from this one object, so a notebook parses, fingerprints and fits a
    split once however many views of it it shows.
    """

    split: Split
    params: PrepParams
    source: str  # "simulated" or "real"
    info: pd.DataFrame  # the sample sheet indexed by GSM
    cached: dict[str, GSMResult]
    partitions: dict[str, np.ndarray]
    stats: GeneStats
    scaling: FeatureScaling

    def qc_table(self) -> pd.DataFrame:
        """Per-cell QC metrics of every raw cell of the split's GSMs, with pass/kept flags."""
        return pd.concat([c.load_qc().assign(gsm=gsm) for gsm, c in self.cached.items()], ignore_index=True)

    def gene_table(self) -> pd.DataFrame:
        """Every gene's train mean, variance, detection count and HVG flag (the mean–variance plot)."""
        ref = next(iter(self.cached.values()))
        return gene_table(self.stats, self.scaling, ref.gene_ids, ref.gene_symbols)


def fit_split(
    raw_dir: Path, split: Split, sheet: pd.DataFrame, params: PrepParams, cache_dir: Path | None = None
) -> FittedSplit:
    """Pass 1 in full: cache the GSMs, assign cells, fit HVGs and scaling on train."""
    raw_dir = Path(raw_dir)
    source = "simulated" if (raw_dir / "ground_truth.json").is_file() else "real"
    cached: dict[str, GSMResult] = dict(cache_split(raw_dir, split, sheet, params, cache_dir))
    return fit_gsms(cached, split, sheet, params, source)


def fit_gsms(
    cached: dict[str, GSMResult], split: Split, sheet: pd.DataFrame, params: PrepParams, source: str
) -> FittedSplit:
    """Assign cells, fit HVGs and scaling on train, for per-GSM results already at hand (in GSM order)."""
    partitions = cell_partitions(cached, split, params.seed)
    stats = train_stats(cached, partitions)
    scaling = fit_scaling(stats, params)
    log.info(
        "%s: %d train cells, %d HVGs fitted (of %d genes)",
        split.name, stats.n_cells, scaling.genes.size, stats.sum.size,
    )
    return FittedSplit(split, params, source, sheet.set_index("gsm"), cached, partitions, stats, scaling)


def prepare_split(
    raw_dir: Path,
    split: Split,
    sheet: pd.DataFrame,
    params: PrepParams,
    out: Path,
    cache_dir: Path | None = None,
) -> Path:
    """Pass 1 and 2: fit the split and write its processed .h5ad; return its path."""
    return write_split(fit_split(raw_dir, split, sheet, params, cache_dir), out)


def write_split(fit: FittedSplit, out: Path) -> Path:
    """Pass 2: write one split's processed .h5ad (schema in the module docstring); return its path.

    On any error nothing is written and an existing file at ``out`` is left as it was.
    """
    out = Path(out)
    adata = _annotations(fit)
    adata.strings_to_categoricals()  # as write_h5ad does
    n_rows, nnz, width = _x_size(fit)
    with hdf5_on_disk(out, _file_bytes(n_rows, nnz)) as f:  # free space checked first: a full disk is an error
        write_elem(f, "/", adata)
        write_rows(f, "X", _scaled_blocks(fit), n_rows, nnz, width)  # one GSM's block in memory at a time
    log.info("%s: wrote %s (%d cells x %d genes)", fit.split.name, out, adata.n_obs, adata.n_vars)
    return out


def assemble_split(fit: FittedSplit) -> ad.AnnData:
    """Pass 2 in memory: the split's scaled cells × HVGs AnnData, exactly what `write_split` stores."""
    adata = _annotations(fit)
    adata.X = stack_rows(_scaled_blocks(fit), *_x_size(fit))
    return adata


def _annotations(fit: FittedSplit) -> ad.AnnData:
    """The split's AnnData without X: obs, var and uns (schema in the module docstring)."""
    split, cached, scaling = fit.split, fit.cached, fit.scaling
    obs_parts, qc_rows = [], []
    for gsm, c in cached.items():
        obs_parts.append(_obs_block(gsm, c.barcodes, fit.partitions[gsm], fit.info.loc[gsm]))
        qc = c.load_qc()
        qc_rows.append(
            {"gsm": gsm, "cells_raw": len(qc), "cells_qc": int(qc["pass_qc"].sum()),
             "cells_kept": int(qc["kept"].sum()), "mean_pct_mt": float(qc["pct_mt"].mean())}
        )
    obs = pd.concat(obs_parts)
    # Categorical up front: anndata would convert repeated strings itself on
    # write, natural-sorting tens of thousands of barcodes.
    for col in ("gsm", "condition", "replicate", "partition", "barcode"):
        obs[col] = obs[col].astype("category")
    ref = next(iter(cached.values()))
    var = pd.DataFrame(
        {"gene_id": ref.gene_ids[scaling.genes], "symbol": ref.gene_symbols[scaling.genes],
         "mean": scaling.mean, "std": scaling.std},
        index=pd.Index(ref.gene_ids[scaling.genes], name=None),
    )
    inputs = {gsm: c.input_fingerprint for gsm, c in cached.items()}
    uns = {
        "params": fit.params.to_dict(),
        "split": _split_uns(split),
        "qc": pd.DataFrame(qc_rows).to_dict(orient="list"),
        "input_fingerprints": inputs,
        "fingerprint": dataset_fingerprint(inputs, fit.params, split, fit.info),
        "source": fit.source,
        "version": __version__,
        "provenance": provenance.compact(),
    }
    return ad.AnnData(obs=obs, var=var, uns=uns)


def _scaled_blocks(fit: FittedSplit) -> Iterator[sp.csr_matrix]:
    """Each GSM scaled only as its rows are stacked: one GSM's block is the only other large array alive."""
    progress = tqdm(fit.cached.values(), desc=f"{fit.split.name}: scale GSMs", unit="GSM")
    return (fit.scaling.transform(c.load_X()) for c in progress)


def _x_size(fit: FittedSplit) -> tuple[int, int, int]:
    """Rows, entries (from the cached per-gene nonzero counts) and columns of the split's X."""
    genes = fit.scaling.genes
    n_rows = sum(int(c.barcodes.size) for c in fit.cached.values())
    return n_rows, sum(int(c.stats.nnz[genes].sum()) for c in fit.cached.values()), int(genes.size)


def _file_bytes(n_rows: int, nnz: int) -> int:
    """What a split's .h5ad needs on disk, generously: X's arrays, then its obs, metadata and HDF5's own."""
    return csr_bytes(n_rows, nnz) + n_rows * OBS_BYTES_PER_CELL + (8 << 20)


def dataset_fingerprint(inputs: dict[str, str], params: PrepParams, split: Split, sheet: pd.DataFrame) -> str:
    """Hash of input files, parameters, split and the split's labels: training records it to tie a run to its data.

    `sheet` is the sample sheet indexed by GSM: relabelling a GSM changes
    every cell's obs, so it must change the fingerprint too.
    """
    labels = {
        gsm: {"condition": str(row["condition"]), "day": int(row["day"]), "replicate": str(row["replicate"])}
        for gsm, row in sheet.loc[list(inputs)].iterrows()
    }
    payload = {"inputs": inputs, "labels": labels, "params": params.to_dict(), "split": split.to_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _obs_block(gsm: str, barcodes: np.ndarray, partition: np.ndarray, row: pd.Series) -> pd.DataFrame:
    n = barcodes.size
    return pd.DataFrame(
        {
            "gsm": gsm,
            "condition": row["condition"],
            "day": np.full(n, int(row["day"]), dtype=np.int64),
            "replicate": row["replicate"],
            "partition": partition.astype(str),
            "y_geno": np.full(n, row["y_geno"], dtype=np.int8),
            "y_day": np.full(n, row["y_day"], dtype=np.int8),
            "barcode": barcodes,
        },
        index=pd.Index([f"{gsm}:{b}" for b in barcodes]),
    )


def _split_uns(split: Split) -> dict[str, object]:
    """The split as HDF5 can store it: None → NO_DAY, empty lists as empty string arrays."""
    out: dict[str, object] = {
        "name": split.name,
        "scheme": split.scheme,
        "unit": split.unit,
        "test_day": NO_DAY if split.test_day is None else split.test_day,
        "val_day": NO_DAY if split.val_day is None else split.val_day,
    }
    for part in ("train", "val", "test"):
        out[part] = np.asarray(getattr(split, part), dtype=str)
    if split.fractions is not None:
        out["fractions"] = list(split.fractions)
    return out


#: obs columns training needs from a processed split.
REQUIRED_OBS: tuple[str, ...] = ("gsm", "condition", "day", "partition", "y_geno", "y_day")


@dataclass(frozen=True)
class ProcessedData:
    """A processed split held in memory: dense float32 features plus the cell table."""

    path: Path
    X: np.ndarray
    obs: pd.DataFrame
    fingerprint: str
    source: str
    split: dict[str, Any]
    genes: pd.DataFrame  # var: gene_id and symbol of each column of X

    def mask(self, part: str) -> np.ndarray:
        return (self.obs["partition"] == part).to_numpy()


def load_processed(path: str | Path) -> ProcessedData:
    """Read a processed .h5ad (schema of the preprocessing contract) and densify X once."""
    path = require_file(path, "processed data")
    try:
        adata = ad.read_h5ad(path)
    except (OSError, KeyError, ValueError, TypeError) as exc:  # not HDF5, or HDF5 without AnnData's groups
        raise InputError(f"processed data {path} is not a readable .h5ad ({one_line(exc)})") from None
    return processed_data(adata, path)


def processed_data(adata: ad.AnnData, path: Path) -> ProcessedData:
    """The training view of a processed split (read from ``path``, or assembled in memory and named so)."""
    missing = [c for c in REQUIRED_OBS if c not in adata.obs]
    if missing:
        raise InputError(f"processed data {path} lacks obs column(s) {', '.join(missing)}")
    X = cast(Any, adata.X)  # read whole into memory (anndata 0.13 also types X as lazy backed arrays)
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    obs = cast(pd.DataFrame, adata.obs)[list(REQUIRED_OBS)].copy()
    obs["partition"] = obs["partition"].astype(str)
    obs["gsm"] = obs["gsm"].astype(str)
    obs["condition"] = obs["condition"].astype(str)
    return ProcessedData(
        path=path,
        X=np.ascontiguousarray(X, dtype=np.float32),
        obs=obs,
        fingerprint=str(adata.uns.get("fingerprint", "")),
        source=str(adata.uns.get("source", "unknown")),
        split=dict(adata.uns.get("split", {})),
        genes=cast(pd.DataFrame, adata.var)[["gene_id", "symbol"]].astype(str).reset_index(drop=True),
    )
