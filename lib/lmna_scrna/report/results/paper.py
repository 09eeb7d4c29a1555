"""The paper's own Table 1 and Table 2 (real data), read from ``params/paper_tables.yaml``, beside this build's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ...io.paper import load_paper_tables, paper_table1
from ..names import run_words

__all__ = ["beside_paper", "beside_paper_table2", "paper_auc", "paper_table1", "paper_table2",
           "protocol_words", "sweep_paper_auc", "table2_for_page"]


def beside_paper(table1: pd.DataFrame, source: str, path: Path | None = None) -> pd.DataFrame:
    """Test AUC and accuracy of the paper and of this build, per split and model the paper reports.

    ``source`` ("simulated" or "real") labels this build's columns, so a reader
    never takes simulated numbers for a replication on the real data.
    """
    return _beside(paper_table1(path), table1, ("split", "model"), ("split", "model"), source)


def _beside(paper: pd.DataFrame, ours: pd.DataFrame, keys: Sequence[str], shown: Sequence[str], source: str,
            name_run: bool = False) -> pd.DataFrame:
    """Each row of a paper table (its `shown` columns, AUC and accuracy) beside this build's row with the same
    `keys`: empty columns where this build has none, never a match by name. `name_run`: say which run matched."""
    indexed = ours.set_index(list(keys))
    rows = []
    for _, p in paper.iterrows():
        key = tuple(p[k] for k in keys)
        row = {c: p[c] for c in shown} | {"paper AUC (real data)": p["test_auc"], "paper acc (real data)": p["test_acc"]}
        if key in indexed.index:
            match = indexed.loc[[key]].iloc[0]
            if name_run:
                row[f"this build's run ({source} data)"] = match["run"]
            row[f"this build AUC ({source} data)"] = match["test_auc_mean"]
            row[f"this build acc ({source} data)"] = match["test_acc_mean"]
        rows.append(row)
    return pd.DataFrame(rows)


#: The settings that identify a run of the paper's Table 2, then its three reported numbers.
TABLE2_SETTINGS = ("depth", "epochs", "batch_size", "activation", "optimizer")
TABLE2_COLUMNS = (*TABLE2_SETTINGS, "test_auc", "test_acc", "test_loss")


def paper_table2(path: Path | None = None) -> pd.DataFrame:
    """The paper's Table 2 (its Model A sweep on test day 19): one row per run, settings then results."""
    data = load_paper_tables(path)
    rows = [{"run": run, **dict(zip(TABLE2_COLUMNS, values))} for run, values in data["table2"].items()]
    return pd.DataFrame(rows).assign(source=data["source"])


def beside_paper_table2(sweep: pd.DataFrame, source: str, path: Path | None = None) -> pd.DataFrame:
    """The paper's Table 2 beside this build's sweep (a `tables.sweep_table`), rows matched on the settings.

    A paper run with no run of the same settings here keeps empty columns
    rather than being matched by name. This build's AUC is the exact
    (scikit-learn) test AUC, mean over its training seeds.
    """
    return _beside(paper_table2(path), sweep, TABLE2_SETTINGS, ("run", *TABLE2_SETTINGS), source, name_run=True)


def paper_auc(split: str, model: str, path: Path | None = None) -> float:
    """The paper's test AUC of one split and model (its Table 1); NaN where it reports none (day 9, random cells)."""
    table = paper_table1(path).set_index(["split", "model"])["test_auc"]
    return float(table.get((split, model), float("nan")))


def sweep_paper_auc(sweep: pd.DataFrame, path: Path | None = None) -> pd.Series:
    """The paper's test AUC for each row of a sweep table with the same settings (NaN where it ran none),
    for `pl.plot_sweep_auc`. Its Table 2 is a Model A sweep, so only Model A rows can match."""
    paper = paper_table2(path).drop_duplicates(list(TABLE2_SETTINGS)).set_index(list(TABLE2_SETTINGS))["test_auc"]
    return pd.Series([float(paper.get(tuple(row[s] for s in TABLE2_SETTINGS), float("nan")))
                      if row.get("model", "A") == "A" else float("nan") for row in sweep.to_dict("records")],
                     index=sweep.index, name="paper AUC (real data)")


def table2_for_page(beside: pd.DataFrame) -> pd.DataFrame:
    """`beside_paper_table2` as a page shows it: each row's settings in words, no run names (rows match on settings)."""
    words = [run_words(row) for row in beside[list(TABLE2_SETTINGS)].to_dict("records")]
    shown = beside.drop(columns=["run", *TABLE2_SETTINGS, *[c for c in beside if str(c).startswith("this build's run")]])
    return shown.assign(configuration=words)[["configuration", *shown.columns]]


def protocol_words(sweep: pd.DataFrame) -> str:
    """Which protocol a sweep table's runs were trained with, read from their dropout and head_width.

    The paper's code ran its sweep with dropout 0.0 and an extra head layer;
    its text describes dropout 0.3 and none. Anything else is named as such.
    """
    dropouts, heads = sorted(set(sweep["dropout"])), sorted(set(sweep["head_width"]))
    settings = (f"dropout {', '.join(f'{d:g}' for d in dropouts)}, "
                + ("no extra head layer" if heads == [0] else f"extra head layer of {', '.join(map(str, heads))} units"))
    if dropouts == [0.0] and 0 not in heads:
        return f"the paper code's protocol ({settings})"
    if dropouts == [0.3] and heads == [0]:
        return f"the paper text's protocol ({settings})"
    return f"neither the paper code's nor its text's protocol ({settings})"
