"""The paper's own Table 1 and Table 2 (real data), read from ``params/paper_tables.yaml``, beside this build's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from ..errors import InputError
from ..paths import params_dir

TABLE1_COLUMNS = ("n_test", "test_auc", "test_acc", "test_geno_loss", "test_combined_loss")


def _load(path: Path | None = None) -> dict:
    path = path or params_dir() / "paper_tables.yaml"
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"paper tables {path}: cannot be read ({exc})") from exc


def paper_table1(path: Path | None = None) -> pd.DataFrame:
    """The paper's Table 1: one row per split × model, with the source named in a column."""
    data = _load(path)
    rows = [
        {"split": split, "model": model, **dict(zip(TABLE1_COLUMNS, values))}
        for split, models in data["table1"].items()
        for model, values in models.items()
    ]
    return pd.DataFrame(rows).assign(source=data["source"])


def beside_paper(table1: pd.DataFrame, source: str, path: Path | None = None) -> pd.DataFrame:
    """Test AUC and accuracy of the paper and of this build, per split and model the paper reports.

    ``source`` ("simulated" or "real") labels this build's columns, so a reader
    never takes simulated numbers for a replication on the real data.
    """
    paper = paper_table1(path)
    ours = table1.set_index(["split", "model"])
    rows = []
    for _, p in paper.iterrows():
        key = (p["split"], p["model"])
        row = {"split": p["split"], "model": p["model"], "paper AUC (real data)": p["test_auc"],
               "paper acc (real data)": p["test_acc"]}
        if key in ours.index:
            row[f"this build AUC ({source} data)"] = ours.loc[key, "test_auc_mean"]
            row[f"this build acc ({source} data)"] = ours.loc[key, "test_acc_mean"]
        rows.append(row)
    return pd.DataFrame(rows)
