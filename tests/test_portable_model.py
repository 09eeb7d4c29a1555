"""A run's model.keras loads in a Python that has only TensorFlow/Keras, and predicts what training predicted.

Each run is trained by the project's own path (`train.train_run`, which saves through `train_seed`); the
saved file is then loaded by a fresh, isolated interpreter (``python -I``, run from an empty folder) in which
importing this package is made impossible, and its logits are compared bit for bit with those training
wrote to the seed's predictions.parquet.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
from _processed_fixtures import make_processed

from lmna_scrna.config import TrainConfig
from lmna_scrna.pp.assemble import load_processed
from lmna_scrna.report.results import attribution_tables
from lmna_scrna.tl import train
from lmna_scrna.tl.evaluate import day_logit_columns

FAST = TrainConfig(width=16, depth=2, epochs=3, batch_size=64, lr=1e-2, patience=8)
#: Model A as the report trains it, and Model B with the paper code's options (conv block, extra head layer).
CONFIGS = {
    "A_mlp": FAST,
    "B_cnn": dataclasses.replace(FAST, model="B", arch="cnn", conv_filters=4, kernel_size=3, head_width=8),
}

#: What a user without this package runs: Keras alone loads the file; the logit layers give the logits.
PLAIN_LOAD = """
import importlib.abc, json, sys
class NotInstalled(importlib.abc.MetaPathFinder):  # as if lmna_scrna were not installed at all
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "lmna_scrna":
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NotInstalled())
import numpy as np, keras
model_path, x_path, out_path = sys.argv[1:]
model = keras.models.load_model(model_path)
X = np.load(x_path)
heads = [name for name in ("geno", "day") if name in model.output]
logits = keras.Model(model.inputs, {name: model.get_layer(name + "_logit").output for name in heads})
np.savez(out_path, **{"z_" + k: v for k, v in logits.predict(X, verbose=0).items()},
         **{"p_" + k: v for k, v in model.predict(X, verbose=0).items()})
print(json.dumps({"ours": sorted(m for m in sys.modules if m.split(".")[0] == "lmna_scrna"),
                  "compiled": model.compiled, "optimizer": repr(getattr(model, "optimizer", None)),
                  "layers": sorted({type(layer).__module__.split(".")[0] for layer in model.layers})}))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One seed of each config, trained and saved by `train.train_run`, beside its processed split."""
    root = tmp_path_factory.mktemp("portable")
    data = make_processed(root / "planted.h5ad", n_cells=1200, n_genes=40, signal=2.0)
    return {name: train.train_run(data, name, config, seeds=[7], out_dir=root) for name, config in CONFIGS.items()}


def _load_plainly(model_path: Path, X: np.ndarray, work: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Outputs of the saved model in a fresh isolated interpreter, run from an empty folder."""
    work.mkdir()
    np.save(work / "X.npy", X)
    done = subprocess.run([sys.executable, "-I", "-c", PLAIN_LOAD, str(model_path), "X.npy", "out.npz"],
                          cwd=work, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(work / "out.npz") as out:
        return {k: out[k] for k in out.files}, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_saved_model_loads_without_the_package_and_predicts_as_in_training(runs, name, tmp_path):
    run = runs[name]
    model_path = run / "seed_7" / "model.keras"
    with zipfile.ZipFile(model_path) as archive:
        config_text = archive.read("config.json").decode()
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")))
    assert "lmna_scrna" not in config_text
    # a network for inference: no optimizer, loss or metrics, and no optimizer state beside the weights
    assert not json.loads(config_text)["compile_config"] and "optimizer" not in weights

    data = load_processed(json.loads((run / "config.json").read_text())["data_path"])
    outputs, seen = _load_plainly(model_path, data.X[data.mask("test")], tmp_path / "plain")
    assert seen == {"ours": [], "compiled": False, "optimizer": "None", "layers": ["keras"]}

    trained = pd.read_parquet(run / "seed_7" / "predictions.parquet")
    # The same float32 logits training computed (then stored as float64): Keras's inference code on both sides.
    assert np.array_equal(outputs["z_geno"].reshape(-1).astype(np.float64), trained["z_geno"].to_numpy())
    # The model's own sigmoid is float32; training's probabilities are float64 from the same logits.
    np.testing.assert_allclose(outputs["p_geno"].reshape(-1), trained["p_geno"], rtol=0, atol=1e-6)
    if CONFIGS[name].model == "B":
        assert np.array_equal(outputs["z_day"].astype(np.float64), trained[day_logit_columns()].to_numpy())


def test_the_report_reads_the_saved_model_into_its_attribution_table(tmp_path, monkeypatch):
    """The calibration page loads a run's model.keras for gradient × input: the planted genes come out on top."""
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    path = make_processed(tmp_path / "dm_t19_v0.h5ad", n_cells=1200, n_genes=40, signal=2.0)
    adata = anndata.read_h5ad(path)  # the fixture's split, as preprocessing names a day-matched one
    adata.uns["split"] = {**adata.uns["split"], "name": "dm_t19_v0", "scheme": "day_matched"}
    adata.write_h5ad(path)
    train.train_run(path, "dm_t19_v0_A", FAST, seeds=[7])
    table = attribution_tables.attribution_table(None, splits=("dm_t19_v0",))
    ranked = table[table["method"].str.startswith("Model A")].sort_values("gene_rank")
    assert set(ranked["symbol"].head(5)) == {f"G{i}" for i in range(5)}  # the fixture's signal genes
