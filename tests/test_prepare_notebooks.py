"""The library behind notebooks 01/02 (fast), and both notebooks run end to end on smoke data (slow)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import anndata as ad  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from lmna_scrna.config import PrepParams  # noqa: E402
from lmna_scrna.paths import PROJECT_ROOT, params_dir  # noqa: E402
from lmna_scrna.pl.design import design_grid, partition_grid  # noqa: E402
from lmna_scrna.pl.qc import qc_violins  # noqa: E402
from lmna_scrna.pp.splits import leave_one_day_out, make_split, partition_table  # noqa: E402
from lmna_scrna.pp.summaries import qc_summary, split_sizes  # noqa: E402
from lmna_scrna.tl.embedding import subsample_cells, variance_explained  # noqa: E402


def test_variance_explained_is_anova_r2():
    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b", "c"], 200)
    offset = pd.Series(groups).map({"a": -3.0, "b": 0.0, "c": 3.0}).to_numpy()
    pcs = np.column_stack([offset, rng.normal(size=600), offset + rng.normal(size=600)])
    table = variance_explained(pcs, pd.DataFrame({"day": groups, "noise": rng.integers(0, 3, 600)}), ("day", "noise"))
    assert table.loc["day", "PC1"] == pytest.approx(1.0)
    assert table.loc["day", "PC2"] < 0.02 and table.loc["noise", "PC1"] < 0.02
    assert table.loc["day", "PC3"] == pytest.approx(6 / 7, abs=0.03)  # var 6 of 6 + 1
    ss = (pcs - pcs.mean(0)) ** 2
    weighted = (table.loc["day", ["PC1", "PC2", "PC3"]].to_numpy() * ss.sum(0)).sum() / ss.sum()
    assert table.loc["day", "all PCs"] == pytest.approx(weighted)


def test_partition_table_and_figures(sheet):
    schemes = [make_split("original", sheet), *leave_one_day_out(sheet), make_split("random_cells", sheet)]
    table = partition_table(schemes, sheet)
    assert table.shape == (6, 12) and set(table.loc["random_cells"]) == {"mixed"}
    assert table.loc["dm_t19_v0", "GSM8325057"] == "test" and list(table.columns[:2]) == ["GSM8325046", "GSM8325054"]
    for fig in (partition_grid(table, sheet), design_grid(sheet)):
        assert fig.axes
        plt.close(fig)


def test_qc_summary_and_split_sizes():
    qc = pd.DataFrame({
        "gsm": ["G1"] * 4 + ["G2"] * 2, "n_genes": [100, 300, 400, 500, 300, 300],
        "total_counts": [1.0, 2, 3, 4, 5, 6], "pct_mt": [1.0, 2, 30, 4, 5, 6],
        "pass_qc": [False, True, False, True, True, True], "kept": [False, True, False, False, True, True],
    })
    table = qc_summary(qc).set_index("gsm")
    assert table.loc["G1", ["cells_raw", "cells_qc", "cells_kept"]].tolist() == [4, 2, 1]
    assert table.loc["G1", "share_removed_by_qc"] == 0.5
    plt.close(qc_violins(qc, PrepParams()))
    obs = pd.DataFrame({"gsm": ["G1", "G1", "G2"], "condition": "Control", "day": 0, "partition": ["test", "train", "val"]})
    assert split_sizes(obs)["partition"].tolist() == ["train", "test", "val"]


def test_subsample_cells_is_per_gsm_and_seeded():
    obs = pd.DataFrame({"gsm": ["GSM8325046"] * 50 + ["GSM8325047"] * 5})
    obs.index = [f"cell{i}" for i in range(55)]
    adata = ad.AnnData(X=np.zeros((55, 2), dtype=np.float32), obs=obs)
    a, b = subsample_cells(adata, 10, seed=1), subsample_cells(adata[::-1].copy(), 10, seed=1)
    assert a.obs["gsm"].value_counts().to_dict() == {"GSM8325046": 10, "GSM8325047": 5}
    assert sorted(a.obs_names) == sorted(b.obs_names)


@pytest.mark.slow
def test_notebooks_run_on_smoke_data(tmp_path, monkeypatch):
    """01 then 02 with the dm_t19_v0 parameter file on the smoke profile: h5ad and figures written."""
    import papermill as pm

    outputs = tmp_path / "outputs"
    monkeypatch.setenv("LMNA_OUTPUTS", str(outputs))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    split = yaml.safe_load((params_dir() / "splits" / "dm_t19_v0.yaml").read_text())
    for name, extra in (("01_prepare", {}), ("02_split_scheme", {"cells_per_gsm": 80})):
        pm.execute_notebook(
            PROJECT_ROOT / "notebooks" / f"{name}.ipynb", tmp_path / f"{name}.ipynb",
            parameters={**split, "sim_size": "smoke", **extra}, kernel_name="python3", progress_bar=False,
        )
    adata = ad.read_h5ad(outputs / "processed" / "dm_t19_v0.h5ad")
    assert adata.n_vars == PrepParams().n_hvg and adata.uns["source"] == "simulated"
    figures = {p.name for p in (outputs / "figures" / "dm_t19_v0").glob("*.png")}
    assert figures == {
        "qc_violins.png", "hvg_mean_variance.png", "split_sizes.png", "design_grid.png",
        "split_schemes.png", "pca.png", "umap.png", "variance_explained.png",
    }
