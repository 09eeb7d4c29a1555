"""The paper's own published results (real data), ``params/paper_tables.yaml``: reference data, like the sheet.

Read by the book (this build beside the paper) and by the fit of the
simulator's worlds (`tl.world_fit`), whose targets are the paper's Table 1.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from ..errors import InputError
from ..paths import params_dir

TABLE1_COLUMNS = ("n_test", "test_auc", "test_acc", "test_geno_loss", "test_combined_loss")


def load_paper_tables(path: Path | None = None) -> dict:
    path = path or params_dir() / "paper_tables.yaml"
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"paper tables {path}: cannot be read ({exc})") from exc


def paper_table1(path: Path | None = None) -> pd.DataFrame:
    """The paper's Table 1: one row per split × model, with the source named in a column."""
    data = load_paper_tables(path)
    rows = [
        {"split": split, "model": model, **dict(zip(TABLE1_COLUMNS, values, strict=True))}
        for split, models in data["table1"].items()
        for model, values in models.items()
    ]
    return pd.DataFrame(rows).assign(source=data["source"])
