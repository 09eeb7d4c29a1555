"""Per-GSM pass, train-only HVG/scaling and the processed .h5ad, checked against scanpy.

Std convention under test: ddof=1 (scanpy.pp.scale), std 0 → 1, no centering, clip ±10.
"""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import version

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
from _tenx_fixtures import SMALL_PARAMS, make_counts, write_study

from lmna_scrna import cli, provenance
from lmna_scrna.config import PrepParams
from lmna_scrna.errors import InputError
from lmna_scrna.io import tenx
from lmna_scrna.io.study import load_samples
from lmna_scrna.pp import gsm_pass
from lmna_scrna.pp.assemble import prepare_split
from lmna_scrna.pp.genes import GeneStats, fit_scaling, select_hvg
from lmna_scrna.pp.gsm_pass import process_counts, subsample
from lmna_scrna.pp.splits import make_split

TOL = 1e-5


@pytest.fixture(scope="module")
def sheet() -> pd.DataFrame:
    return load_samples()


@pytest.fixture(scope="module")
def study(tmp_path_factory, sheet):
    raw = tmp_path_factory.mktemp("raw")
    return raw, write_study(raw, sheet)


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    return tmp_path / "outputs"


def _prepare(raw, split, sheet, tmp_path, name="out.h5ad", params=SMALL_PARAMS, cache=None):
    out = tmp_path / name
    prepare_split(raw, split, sheet=sheet, params=params, out=out, cache_dir=cache or tmp_path / "cache")
    return ad.read_h5ad(out)


def _scanpy_qc(counts, params) -> ad.AnnData:
    """scanpy's QC of one GSM: filter_cells on genes, pct_counts_mt from calculate_qc_metrics."""
    a = ad.AnnData(X=counts.X.astype(np.float32), var=pd.DataFrame(index=counts.gene_symbols))
    a.obs_names = [f"{counts.gsm}:{b}" for b in counts.barcodes]
    a.var["mt"] = a.var_names.str.startswith("MT-")
    sc.pp.calculate_qc_metrics(a, qc_vars=["mt"], inplace=True, percent_top=None)
    sc.pp.filter_cells(a, min_genes=params.min_genes)
    sc.pp.filter_cells(a, max_genes=params.max_genes)
    return a[a.obs["pct_counts_mt"] <= params.max_pct_mt].copy()


def test_prepare_matches_scanpy(study, sheet, tmp_path):
    """Same cells, same HVGs (top-n variance of concatenated train cells), same values to 1e-5."""
    raw, counts = study
    split = make_split("original", sheet)
    got = _prepare(raw, split, sheet, tmp_path)

    ref = ad.concat([_scanpy_qc(counts[g], SMALL_PARAMS) for g in split.gsms])
    sc.pp.normalize_total(ref, target_sum=SMALL_PARAMS.target_sum)
    sc.pp.log1p(ref)
    assert list(got.obs_names) == list(ref.obs_names)

    train = ref[ref.obs_names.str.split(":").str[0].isin(split.train)].copy()
    sc.pp.filter_genes(train, min_cells=SMALL_PARAMS.min_cells_per_gene)
    dense = train.X.toarray().astype(np.float64)
    var = dense.var(axis=0, ddof=1)
    top = np.lexsort((np.arange(var.size), -var))[: SMALL_PARAMS.n_hvg]
    hvg = sorted(train.var_names[top], key=list(ref.var_names).index)
    assert list(got.var["symbol"]) == hvg

    train = train[:, hvg].copy()
    sc.pp.scale(train, zero_center=False, max_value=SMALL_PARAMS.clip)
    np.testing.assert_allclose(got.var["std"], train.var["std"], rtol=TOL)
    np.testing.assert_allclose(got.var["mean"], train.var["mean"], rtol=TOL)
    is_train = got.obs["partition"].to_numpy() == "train"
    np.testing.assert_allclose(got.X[is_train].toarray(), train.X.toarray(), atol=TOL)
    # val/test cells: the train std applied unchanged
    held = ref[~ref.obs_names.isin(train.obs_names), hvg].X.toarray() / train.var["std"].to_numpy()
    np.testing.assert_allclose(got.X[~is_train].toarray(), np.clip(held, -10, 10), atol=TOL)


def test_h5ad_schema(study, sheet, tmp_path):
    raw, _ = study
    got = _prepare(raw, make_split("day_matched", sheet, 19, 0), sheet, tmp_path)
    assert isinstance(got.X, sp.csr_matrix) and got.X.dtype == np.float32
    assert list(got.obs.columns) == ["gsm", "condition", "day", "replicate", "partition", "y_geno", "y_day", "barcode"]
    assert got.obs["y_geno"].dtype == np.int8 and got.obs["y_day"].dtype == np.int8
    assert got.obs["day"].dtype.kind == "i"
    assert got.obs_names.is_unique and got.obs_names[0] == f"{got.obs['gsm'].iloc[0]}:{got.obs['barcode'].iloc[0]}"
    assert set(got.obs.loc[got.obs["partition"] == "test", "gsm"]) == {"GSM8325052", "GSM8325057"}
    assert list(got.var.columns) == ["gene_id", "symbol", "mean", "std"]
    assert (got.var_names == got.var["gene_id"]).all() and got.n_vars == SMALL_PARAMS.n_hvg
    assert got.X.max() <= SMALL_PARAMS.clip and got.X.min() >= 0
    uns = got.uns
    assert uns["params"]["n_hvg"] == SMALL_PARAMS.n_hvg
    assert uns["split"]["name"] == "dm_t19_v0" and uns["split"]["test_day"] == 19
    assert list(uns["split"]["test"]) == ["GSM8325052", "GSM8325057"]
    qc = pd.DataFrame(uns["qc"])
    assert set(qc.columns) == {"gsm", "cells_raw", "cells_qc", "cells_kept", "mean_pct_mt"}
    assert (qc["cells_raw"] > qc["cells_qc"]).all() and (qc["cells_kept"] == qc["cells_qc"]).all()
    assert qc["cells_kept"].sum() == got.n_obs
    assert len(uns["fingerprint"]) == 64 and set(uns["input_fingerprints"]) == set(sheet["gsm"])
    assert uns["source"] == "real" and uns["version"]
    recorded = uns["provenance"]  # which software and machine wrote the file (provenance.compact)
    assert recorded["packages"]["anndata"] == version("anndata") and recorded["packages"]["numpy"] == np.__version__
    assert {"tensorflow", "keras", "scipy", "scanpy", "papermill", "jupyter-book"} <= set(recorded["packages"])
    assert recorded["cpu"] == provenance.cpu()["model"] and recorded["commit"] == provenance.commit()
    assert int(recorded["threads"]) >= 1 and int(recorded["cores"]) >= 1


def test_random_cells_fits_on_train_cells_only(study, sheet, tmp_path):
    raw, _ = study
    got = _prepare(raw, make_split("random_cells", sheet), sheet, tmp_path)
    assert got.uns["split"]["test_day"] == -1 and list(got.uns["split"]["fractions"]) == [0.7, 0.15, 0.15]
    shares = got.obs["partition"].value_counts(normalize=True)
    assert abs(shares["train"] - 0.7) < 0.02 and set(got.obs.groupby("gsm", observed=True)["partition"].nunique()) == {3}
    # the train std recomputed from the train rows of the output, unscaled
    train = got[got.obs["partition"] == "train"]
    unscaled = train.X.toarray().astype(np.float64) * got.var["std"].to_numpy()
    assert unscaled.max() < 10  # nothing clipped here, so the inversion is exact
    np.testing.assert_allclose(unscaled.std(axis=0, ddof=1), got.var["std"], rtol=1e-4)


def test_val_test_counts_do_not_leak(study, sheet, tmp_path):
    """Other val/test counts leave HVGs, scaling and the train rows unchanged."""
    raw, _ = study
    split = make_split("original", sheet)
    other = tmp_path / "raw_other"
    write_study(other, sheet, overrides={g: 99 for g in split.val + split.test})
    a = _prepare(raw, split, sheet, tmp_path, "a.h5ad")
    b = _prepare(other, split, sheet, tmp_path, "b.h5ad")
    assert list(a.var_names) == list(b.var_names)
    np.testing.assert_array_equal(a.var["std"], b.var["std"])
    is_train = a.obs["partition"] == "train"
    assert (a.X[is_train.to_numpy()] != b.X[is_train.to_numpy()]).nnz == 0
    assert (a.X != b.X).nnz > 0  # the val/test rows did change


def test_order_independence_and_determinism(study, sheet, tmp_path):
    raw, _ = study
    split = make_split("original", sheet)
    a = _prepare(raw, split, sheet, tmp_path, "a.h5ad", cache=tmp_path / "c1")
    shuffled = replace(split, train=split.train[::-1], val=split.val[::-1], test=split.test[::-1])
    b = _prepare(raw, shuffled, sheet.sample(frac=1, random_state=3), tmp_path, "b.h5ad", cache=tmp_path / "c2")
    c = _prepare(raw, split, sheet, tmp_path, "c.h5ad", cache=tmp_path / "c1")  # from cache
    for other in (b, c):
        assert (a.X != other.X).nnz == 0
        pd.testing.assert_frame_equal(a.obs, other.obs)
        pd.testing.assert_frame_equal(a.var, other.var)
    assert a.uns["fingerprint"] == b.uns["fingerprint"] == c.uns["fingerprint"]


def test_cache_hit_parses_no_raw_file(study, sheet, tmp_path, monkeypatch):
    raw, _ = study
    monkeypatch.setattr(gsm_pass, "MAX_PARSE_WORKERS", 1)  # count parses in this process
    calls = []
    real = tenx.read_gsm
    monkeypatch.setattr(tenx, "read_gsm", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    _prepare(raw, make_split("original", sheet), sheet, tmp_path, "a.h5ad")
    assert sorted(calls) == sorted(sheet["gsm"])
    calls.clear()
    for scheme, t, v in (("day_matched", 19, 0), ("random_cells", None, None)):
        _prepare(raw, make_split(scheme, sheet, t, v), sheet, tmp_path, f"{scheme}.h5ad")
    assert calls == []
    # parameters that change the per-GSM pass invalidate it; HVG parameters do not
    _prepare(raw, make_split("original", sheet), sheet, tmp_path, params=replace(SMALL_PARAMS, n_hvg=30))
    assert calls == []
    _prepare(raw, make_split("original", sheet), sheet, tmp_path, params=replace(SMALL_PARAMS, max_cells=40))
    assert len(calls) == 12


def test_qc_before_subsampling_and_seeded_by_gsm_only():
    counts = make_counts("GSM8325046", 120, seed=1)
    params = replace(SMALL_PARAMS, max_cells=50)
    result = process_counts(counts, "GSM8325046", params)
    assert result.X.shape[0] == 50 and result.qc["kept"].sum() == 50
    assert result.qc.loc[result.qc["kept"], "pass_qc"].all()  # only QC-passing cells are drawn
    assert np.array_equal(subsample(100, 50, 42, "GSM8325046"), subsample(100, 50, 42, "GSM8325046"))
    assert not np.array_equal(subsample(100, 50, 42, "GSM8325046"), subsample(100, 50, 42, "GSM8325047"))
    assert np.array_equal(subsample(30, 50, 42, "GSM8325046"), np.arange(30))


def test_gene_stats_add_up_and_match_numpy():
    rng = np.random.default_rng(0)
    a = sp.random(40, 30, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    b = sp.random(25, 30, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    total = GeneStats.from_matrix(a) + GeneStats.from_matrix(b)
    dense = sp.vstack([a, b]).toarray().astype(np.float64)
    np.testing.assert_allclose(total.variance, dense.var(axis=0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(total.mean, dense.mean(axis=0), rtol=1e-12)
    assert np.array_equal(total.nnz, (dense != 0).sum(axis=0))


def test_hvg_ties_broken_by_gene_index_and_zero_std():
    stats = GeneStats(4, np.array([2.0, 2.0, 2.0, 0.0]), np.array([4.0, 4.0, 4.0, 0.0]), np.array([2, 2, 2, 0]))
    assert list(select_hvg(stats, min_cells=0, n_hvg=2)) == [0, 1]
    scaling = fit_scaling(stats, PrepParams(min_cells_per_gene=0, n_hvg=4))
    assert scaling.std[3] == 1.0  # scanpy's rule: a constant gene is divided by 1


def test_empty_after_qc_names_gsm_and_leaves_previous_output(study, sheet, tmp_path):
    raw, _ = study
    out = tmp_path / "keep.h5ad"
    out.write_text("previous good output")
    strict = replace(SMALL_PARAMS, min_genes=10_000, max_genes=20_000)
    with pytest.raises(InputError, match=r"GSM8325046: no cell of \d+ passes QC"):
        prepare_split(raw, make_split("original", sheet), sheet, strict, out, cache_dir=tmp_path / "cache")
    assert out.read_text() == "previous good output"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".h5ad" or ".part" in p.name] == ["keep.h5ad"]


def test_missing_gsm_is_named(study, sheet, tmp_path):
    raw, counts = study
    partial = tmp_path / "partial"
    partial.mkdir()
    for f in raw.iterdir():
        if not f.name.startswith("GSM8325050"):
            (partial / f.name).symlink_to(f)
    out = tmp_path / "x.h5ad"
    with pytest.raises(InputError, match="GSM8325050"):
        prepare_split(partial, make_split("original", sheet), sheet, SMALL_PARAMS, out, cache_dir=tmp_path / "c")
    assert not out.exists()


def test_cli_prepare(study, outputs, tmp_path, capsys):
    raw, _ = study
    out = tmp_path / "cli.h5ad"
    small = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL_PARAMS.to_dict().items()]
    argv = ["prepare", "--raw", str(raw), "--scheme", "day_matched", "--test-day", "19", "--val-day", "0", "--out", str(out)]
    assert cli.main(argv + small) == 0
    assert ad.read_h5ad(out).uns["split"]["name"] == "dm_t19_v0"
    assert (outputs / "cache").is_dir()  # default cache under LMNA_OUTPUTS
    assert cli.main([*argv[:-6], "--test-day", "30", "--val-day", "0", "--out", str(tmp_path / "bad.h5ad")]) == 2
    assert "test_day 30 has only Control" in capsys.readouterr().err
    assert not (tmp_path / "bad.h5ad").exists()


def test_concurrent_preparations_parse_each_gsm_once(study, tmp_path, monkeypatch):
    """Two splits prepared at once (report --jobs 2) share one parse per GSM via the cache lock."""
    from concurrent.futures import ThreadPoolExecutor

    from lmna_scrna.pp.gsm_pass import load_gsm

    raw, _ = study
    calls = []
    real = tenx.read_gsm
    monkeypatch.setattr(tenx, "read_gsm", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: load_gsm(raw, "GSM8325046", SMALL_PARAMS, tmp_path / "c"), range(4)))
    assert calls == ["GSM8325046"] and len({r.path for r in results}) == 1


def test_parallel_cold_cache_equals_serial(study, sheet, tmp_path):
    raw, _ = study
    split = make_split("original", sheet)
    serial = gsm_pass.load_gsms(raw, split.gsms, SMALL_PARAMS, tmp_path / "serial", workers=1)
    parallel = gsm_pass.load_gsms(raw, split.gsms, SMALL_PARAMS, tmp_path / "parallel", workers=2)
    for gsm in split.gsms:
        a, b = serial[gsm].load_X(), parallel[gsm].load_X()
        assert a.shape == b.shape and (a != b).nnz == 0
        assert np.array_equal(serial[gsm].barcodes, parallel[gsm].barcodes)
