"""Assemble one split's processed AnnData from the per-GSM cache (paper §2.4.3–2.4.5).

Pass 1 makes sure every GSM of the split is cached (parsing only on a miss)
and sums the train cells' per-gene statistics; the HVG list and scaling are
fitted on those sums alone, then pass 2 applies them unchanged to every GSM,
one at a time. Val/test counts therefore cannot influence the features, and
peak memory is one GSM's log-normalised matrix plus the (cells × HVG) output.

The written .h5ad is the contract with training:

* ``X``: float32 CSR, cells × HVGs, divided by the train std and clipped, not centered;
* ``obs``: gsm, condition, day, replicate, split, y_geno, y_day, barcode;
  index "<gsm>:<barcode>"; cells ordered by GSM accession, then as in the GSM's files;
* ``var``: index gene_id; gene_id, symbol, mean, std (train-fitted; std 0 → 1);
* ``uns``: ``params`` (PrepParams as a dict); ``split`` (name, kind, train,
  val, test, test_day, val_day, plus fractions for random_cells; a day the
  split does not use is stored as -1 because HDF5 cannot hold None);
  ``qc`` (lists over GSMs: gsm, cells_raw, cells_qc, cells_kept, mean_pct_mt
  over all raw cells); ``input_fingerprints`` (GSM → fingerprint of its
  files); ``fingerprint`` (hash of inputs, params and split); ``source``
  ("simulated" when the raw folder has ground_truth.json, else "real");
  ``version`` (of lmna_scrna).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from . import __version__
from .atomic import atomic_path
from .config import PrepParams
from .errors import InputError
from .features import FeatureScaling, GeneStats, fit_scaling, gene_table
from .gsm_cache import CachedGSM, load_gsms
from .paths import cache_dir as default_cache_dir
from .paths import default_raw_dir
from .splits import Split, assign_cells

log = logging.getLogger(__name__)

#: Stored in uns for a test_day/val_day a split does not use (HDF5 has no None).
NO_DAY = -1


def resolve_raw_dir(raw_dir: str | Path | None, profile: str = "full") -> Path:
    """``raw_dir``, or the profile's simulated default data, simulated on first use.

    Lets every notebook run on the default data with no set-up step, while an
    explicit ``raw_dir`` (real GEO files) is used as given and never simulated into.
    """
    if raw_dir is not None:
        return Path(raw_dir)
    from .simulate import simulate

    return simulate(default_raw_dir(profile), profile=profile)


def check_params(params: PrepParams) -> None:
    """Refuse parameters that would write a NaN, empty or constant .h5ad, naming the parameter at fault."""
    for name, value in params.to_dict().items():
        kind = type(PrepParams.__dataclass_fields__[name].default)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if kind is int else numbers.Real):
            raise InputError(f"PrepParams.{name}={value!r}: must be {'an integer' if kind is int else 'a number'}")
    rules = (
        ("seed", params.seed >= 0, ">= 0"),
        ("min_genes", params.min_genes >= 0, ">= 0"),
        ("max_genes", params.max_genes >= params.min_genes, f">= min_genes ({params.min_genes})"),
        ("max_pct_mt", 0 <= params.max_pct_mt <= 100, "in [0, 100]"),
        ("max_cells", params.max_cells >= 1, ">= 1"),
        ("target_sum", 0 < params.target_sum < math.inf, "finite and > 0"),
        ("min_cells_per_gene", params.min_cells_per_gene >= 0, ">= 0"),
        ("n_hvg", params.n_hvg >= 1, ">= 1"),
        ("clip", params.clip > 0, "> 0"),
    )
    for name, ok, meaning in rules:
        if not ok:  # comparisons with NaN are False, so NaN fails every rule
            raise InputError(f"PrepParams.{name}={getattr(params, name)!r}: must be {meaning}")


def cache_split(
    raw_dir: Path, split: Split, sheet: pd.DataFrame, params: PrepParams, cache_dir: Path | None = None
) -> dict[str, CachedGSM]:
    """Pass 1: the cached per-GSM result of every GSM of the split, in accession order."""
    check_params(params)
    missing = sorted(set(split.gsms) - set(sheet["gsm"]))
    if missing:
        raise InputError(f"split {split.name}: GSM(s) {', '.join(missing)} are not in the sample sheet")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cached = load_gsms(Path(raw_dir), split.gsms, params, cache_dir)
    _check_same_genes(cached)
    return cached


def _check_same_genes(cached: dict[str, CachedGSM]) -> None:
    """All GSMs must share one gene list; name the GSM(s) that differ from the majority's list."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for gsm, c in cached.items():
        groups.setdefault(tuple(c.gene_ids), []).append(gsm)
    if len(groups) == 1:
        return
    majority = max(groups.values(), key=len)  # on a tie, the group of the first GSM in accession order
    odd = [g for members in groups.values() if members is not majority for g in members]
    raise InputError(
        f"{', '.join(odd)}: gene list differs from that of {', '.join(majority)}; all GSMs must share one feature list"
    )


def cell_partitions(cached: dict[str, CachedGSM], split: Split, seed: int) -> dict[str, np.ndarray]:
    """The partition label of every kept cell of every GSM."""
    return {gsm: assign_cells(split, gsm, c.n_kept, seed) for gsm, c in cached.items()}


def train_stats(cached: dict[str, CachedGSM], partitions: dict[str, np.ndarray]) -> GeneStats:
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
    """The outcome of pass 1: cached GSMs, each cell's partition, the train fit."""

    cached: dict[str, CachedGSM]
    partitions: dict[str, np.ndarray]
    stats: GeneStats
    scaling: FeatureScaling


def fit_split(
    raw_dir: Path, split: Split, sheet: pd.DataFrame, params: PrepParams, cache_dir: Path | None = None
) -> FittedSplit:
    """Pass 1 in full: cache the GSMs, assign cells, fit HVGs and scaling on train."""
    cached = cache_split(raw_dir, split, sheet, params, cache_dir)
    partitions = cell_partitions(cached, split, params.seed)
    stats = train_stats(cached, partitions)
    scaling = fit_scaling(stats, params)
    log.info(
        "%s: %d train cells, %d HVGs fitted (of %d genes)",
        split.name, stats.n_cells, scaling.genes.size, stats.sum.size,
    )
    return FittedSplit(cached, partitions, stats, scaling)


def split_gene_table(
    raw_dir: Path, split: Split, sheet: pd.DataFrame, params: PrepParams, cache_dir: Path | None = None
) -> pd.DataFrame:
    """Every gene's train mean, variance, detection count and HVG flag (the mean–variance plot)."""
    fit = fit_split(raw_dir, split, sheet, params, cache_dir)
    ref = next(iter(fit.cached.values()))
    return gene_table(fit.stats, fit.scaling, ref.gene_ids, ref.gene_symbols)


def split_qc_table(
    raw_dir: Path, split: Split, sheet: pd.DataFrame, params: PrepParams, cache_dir: Path | None = None
) -> pd.DataFrame:
    """Per-cell QC metrics of every raw cell of the split's GSMs, with pass/kept flags."""
    cached = cache_split(raw_dir, split, sheet, params, cache_dir)
    return pd.concat([c.load_qc().assign(gsm=gsm) for gsm, c in cached.items()], ignore_index=True)


def prepare_split(
    raw_dir: Path,
    split: Split,
    sheet: pd.DataFrame,
    params: PrepParams,
    out: Path,
    cache_dir: Path | None = None,
) -> Path:
    """Write one split's processed .h5ad (schema in the module docstring); return its path.

    On any error nothing is written and an existing file at ``out`` is left as it was.
    """
    raw_dir, out = Path(raw_dir), Path(out)
    fit = fit_split(raw_dir, split, sheet, params, cache_dir)
    cached, partitions, scaling = fit.cached, fit.partitions, fit.scaling
    obs_parts, qc_rows = [], []
    info = sheet.set_index("gsm")
    for gsm, c in cached.items():
        obs_parts.append(_obs_block(gsm, c.barcodes, partitions[gsm], info.loc[gsm]))
        qc = c.load_qc()
        qc_rows.append(
            {"gsm": gsm, "cells_raw": len(qc), "cells_qc": int(qc["pass_qc"].sum()),
             "cells_kept": int(qc["kept"].sum()), "mean_pct_mt": float(qc["pct_mt"].mean())}
        )
    obs = pd.concat(obs_parts)
    # Categorical up front: anndata would convert repeated strings itself on
    # write, natural-sorting tens of thousands of barcodes.
    for col in ("gsm", "condition", "replicate", "split", "barcode"):
        obs[col] = obs[col].astype("category")
    ref = next(iter(cached.values()))
    var = pd.DataFrame(
        {"gene_id": ref.gene_ids[scaling.genes], "symbol": ref.gene_symbols[scaling.genes],
         "mean": scaling.mean, "std": scaling.std},
        index=pd.Index(ref.gene_ids[scaling.genes], name=None),
    )
    inputs = {gsm: c.input_fingerprint for gsm, c in cached.items()}
    # Each GSM is scaled only as its rows are copied into the output, sized from the cached
    # per-gene nonzero counts: the output and one GSM's block are the only large arrays alive.
    progress = tqdm(cached.values(), desc=f"{split.name}: scale GSMs", unit="GSM")
    scaled = (scaling.transform(c.load_X()) for c in progress)
    adata = ad.AnnData(
        X=_stack_rows(
            scaled, n_rows=len(obs), nnz=sum(int(c.stats.nnz[scaling.genes].sum()) for c in cached.values()),
            width=scaling.genes.size,
        ),
        obs=obs,
        var=var,
        uns={
            "params": params.to_dict(),
            "split": _split_uns(split),
            "qc": pd.DataFrame(qc_rows).to_dict(orient="list"),
            "input_fingerprints": inputs,
            "fingerprint": dataset_fingerprint(inputs, params, split),
            "source": "simulated" if (raw_dir / "ground_truth.json").is_file() else "real",
            "version": __version__,
        },
    )
    with atomic_path(out) as tmp:
        adata.write_h5ad(tmp)
    log.info("%s: wrote %s (%d cells x %d genes)", split.name, out, adata.n_obs, adata.n_vars)
    return out


def dataset_fingerprint(inputs: dict[str, str], params: PrepParams, split: Split) -> str:
    """Hash of input files, parameters and split: training records it to tie a run to its data."""
    payload = {"inputs": inputs, "params": params.to_dict(), "split": split.to_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _stack_rows(blocks: Iterable[sp.csr_matrix], n_rows: int, nnz: int, width: int) -> sp.csr_matrix:
    """Row-concatenate CSR blocks of `width` columns into arrays allocated once for `nnz` entries.

    Equivalent to ``sp.vstack`` without its checks and intermediate copies;
    blocks are taken one at a time, so with a generator the output plus one
    block is all that is alive. `nnz` comes from the cached statistics, which
    count nonzero values: stored zeros (only from float underflow) grow the arrays.
    """
    index_dtype = np.int32 if nnz < np.iinfo(np.int32).max else np.int64
    data = np.empty(nnz, dtype=np.float32)
    indices = np.empty(nnz, dtype=index_dtype)
    indptr = np.empty(n_rows + 1, dtype=index_dtype)
    indptr[0] = row = pos = 0
    for b in blocks:
        if pos + b.nnz > data.size:
            data, indices = (np.concatenate([a[:pos], np.empty(b.nnz, a.dtype)]) for a in (data, indices))
        data[pos : pos + b.nnz] = b.data
        indices[pos : pos + b.nnz] = b.indices
        indptr[row + 1 : row + b.shape[0] + 1] = b.indptr[1:] + pos
        row, pos = row + b.shape[0], pos + b.nnz
    return sp.csr_matrix((data[:pos], indices[:pos], indptr), shape=(n_rows, width))


def _obs_block(gsm: str, barcodes: np.ndarray, partition: np.ndarray, row: pd.Series) -> pd.DataFrame:
    n = barcodes.size
    return pd.DataFrame(
        {
            "gsm": gsm,
            "condition": row["condition"],
            "day": np.full(n, int(row["day"]), dtype=np.int64),
            "replicate": row["replicate"],
            "split": partition.astype(str),
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
        "kind": split.kind,
        "test_day": NO_DAY if split.test_day is None else split.test_day,
        "val_day": NO_DAY if split.val_day is None else split.val_day,
    }
    for part in ("train", "val", "test"):
        out[part] = np.asarray(getattr(split, part), dtype=str)
    if split.fractions is not None:
        out["fractions"] = list(split.fractions)
    return out
