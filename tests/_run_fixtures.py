"""Fake finished training runs in the training contract's layout (tl/runs.py), for the tables, book and inference tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lmna_scrna.config import TrainConfig
from lmna_scrna.paths import run_dir
from lmna_scrna.tl.evaluate import genotype_metrics, scalar_metrics, summarise
from lmna_scrna.tl.runs import to_json

#: Test and validation day of each split a fake run may be named after (any other: day 19, validation day 0).
SPLITS = {"original": (None, None), "dm_t0_v16": (0, 16), "dm_t19_v0": (19, 0), "random_cells": (None, None)}


def fake_run(name: str, strength: float, seeds: tuple[int, ...] = (1, 2), **config: object) -> Path:
    """A finished run whose test AUC grows with `strength` (two test GSMs, one per genotype)."""
    split = name.rsplit("_", 1)[0]
    test_day, val_day = SPLITS.get(split, (19, 0))
    folder = run_dir(name)
    per_seed = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        y = np.repeat([0, 1], 50)
        p = np.clip(0.5 + strength * (y - 0.5) + rng.normal(0, 0.2, y.size), 0.01, 0.99)
        pred = pd.DataFrame({
            "cell": [f"c{i}" for i in range(y.size)], "gsm": np.where(y == 1, "GSM_P", "GSM_C"),
            "condition": np.where(y == 1, "Patient", "Control"), "day": 19, "y_true": y,
            "z_geno": np.log(p / (1 - p)), "p_geno": p,
        })
        metrics = genotype_metrics(pred, y, p) | {"best_epoch": 3, "epochs_run": 5}
        (folder / f"seed_{seed}").mkdir(parents=True)
        (folder / f"seed_{seed}" / "metrics.json").write_text(to_json(metrics))
        pd.DataFrame({"epoch": [1, 2], "loss": [0.7, 0.6]}).to_csv(folder / f"seed_{seed}" / "history.csv", index=False)
        pred.to_parquet(folder / f"seed_{seed}" / "predictions.parquet")
        per_seed[seed] = metrics
    p_base = 0.5 + 0.1 * (y - 0.5)
    baseline = genotype_metrics(pred.assign(p_geno=p_base, z_geno=np.log(p_base / (1 - p_base))), y, p)
    (folder / "baseline").mkdir()
    (folder / "baseline" / "metrics.json").write_text(to_json(baseline))
    pseudobulk = {"C": 1.0, "gsm": [{"gsm": "GSM_C", "partition": "test", "y_true": 0, "score": -strength},
                                    {"gsm": "GSM_P", "partition": "test", "y_true": 1, "score": strength}]}
    (folder / "baseline" / "pseudobulk.json").write_text(to_json(pseudobulk))
    pred.to_parquet(folder / "baseline" / "predictions.parquet")
    cfg = TrainConfig(**config).to_dict() | {
        "seeds": list(seeds), "run": name, "split": {"name": split, "scheme": "day_matched" if test_day is not None else split,
                                              "test_day": test_day, "val_day": val_day}}
    (folder / "config.json").write_text(to_json(cfg))
    summary = {"run": name, "model": cfg["model"], "seeds": list(seeds),
               "metrics": summarise(per_seed), "baseline": scalar_metrics(baseline)}
    (folder / "summary.json").write_text(to_json(summary))
    return folder
