"""tl/embedding.py: the split-scheme notebook's embedding, which must not load TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys

EMBED_IN_A_FRESH_PROCESS = """
import sys
import anndata as ad, numpy as np, pandas as pd
from lmna_scrna.tl.embedding import embed_train_fitted
rng = np.random.default_rng(0)
obs = pd.DataFrame({"partition": ["train"] * 80 + ["test"] * 40}, index=[f"c{i}" for i in range(120)])
out = embed_train_fitted(ad.AnnData(rng.random((120, 30), dtype=np.float32), obs=obs), n_pcs=5, seed=0)
print("tensorflow" in sys.modules, out.obsm["X_pca"].shape, out.obsm["X_umap"].shape)
import tensorflow
print("importable afterwards")
"""


def test_embedding_loads_umap_without_tensorflow_which_stays_importable() -> None:
    # umap-learn's package imports TensorFlow for ParametricUMAP: 3 s and ~1 GB in a kernel that trains nothing.
    done = subprocess.run([sys.executable, "-c", EMBED_IN_A_FRESH_PROCESS], capture_output=True, text=True,
                          check=False, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-2:] == ["False (120, 5) (120, 2)", "importable afterwards"]
