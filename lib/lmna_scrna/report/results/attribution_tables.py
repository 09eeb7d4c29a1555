"""Which genes the networks use: the calibration page's attribution tables (loads Keras models).

Kept apart from `calibration_tables` so reading the calibration's numbers
(the book's intro does) never starts TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ...pp.assemble import load_processed
from ...tl import attribution
from ...tl.backend import keras
from ...tl.runs import baseline_dir, run_name, seed_dir
from ..names import split_words
from .tables import finished_run, is_day_matched, report_splits


def attribution_table(truth: dict[str, Any] | None, splits: Sequence[str] | None = None) -> pd.DataFrame:
    """Per day-matched fold, every HVG ranked by Model A's gradient × input and by the logistic coefficients.

    Model A's first training seed is used, on the fold's test cells; the
    logistic baseline is ranked by its absolute coefficient. With `truth`
    (simulated data) each gene says whether it carries a planted patient
    effect and whether it belongs to the day program.
    """
    splits = report_splits() if splits is None else splits
    rows = []
    for split in (s for s in splits if is_day_matched(s)):
        finished = finished_run(run_name(split, "A"))
        data = load_processed(finished["config"]["data_path"])
        first = int(finished["config"]["seeds"][0])
        model = keras.saving.load_model(seed_dir(Path(finished["path"]), first) / "model.keras")
        scores = attribution.gradient_x_input(model, data.X[data.mask("test")])
        ranked = attribution.rank_genes(scores, data.genes["gene_id"], data.genes["symbol"])
        rows.append(attribution.mark_truth(ranked, truth).assign(split=split, method="Model A gradient × input"))
        coef = pd.read_csv(baseline_dir(Path(finished["path"])) / "coefficients.csv")
        ranked = attribution.rank_genes(coef["coefficient"].abs().to_numpy(), coef["gene_id"], coef["symbol"])
        rows.append(attribution.mark_truth(ranked, truth).assign(split=split, method="logistic |coefficient|"))
    table = pd.concat(rows, ignore_index=True)
    return table[["split", "method", "gene_rank", "gene_id", "symbol", "attribution", "planted", "day_program"]]


def top_genes(table: pd.DataFrame, method: str = "Model A", k: int = 10) -> pd.DataFrame:
    """One ranking's `k` most used genes: a row per rank, a column per fold (named by its test day), each gene
    marked with what the simulator planted on it; k rows on the page instead of k per fold."""
    top = table[(table["gene_rank"] <= k) & table["method"].str.startswith(method)]
    marks = [" (planted)" if planted is not pd.NA and planted else " (day program)" if day is not pd.NA and day else ""
             for planted, day in zip(top["planted"], top["day_program"])]  # pd.NA: real data, nothing planted
    named = top.assign(gene=top["symbol"].astype(str) + marks, split=[split_words(s, short=True) for s in top["split"]])
    folds = list(dict.fromkeys(named["split"]))
    return named.pivot(index="gene_rank", columns="split", values="gene")[folds].reset_index().rename_axis(columns=None)


def attribution_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per fold and method: share of planted genes and of day-program genes among the top 20/50/100."""
    rows = [{"split": split, "method": method, **attribution.precision_at(group)}
            for (split, method), group in table.groupby(["split", "method"], sort=False)]
    return pd.DataFrame(rows)


def attribution_words(summary: pd.DataFrame) -> str:
    """What the precision table says against its base rates, and the mitochondrial genes' place in it."""
    model = summary[summary["method"].str.startswith("Model A")]
    if not len(model):
        return ""
    lift = model["planted_at_100"].mean() / max(model["planted_all"].mean(), 1e-12)
    mt = model["mt_in_top_20"]
    return (
        f"Among Model A's top 100 genes, {model['planted_at_100'].mean():.0%} carry a planted patient effect on "
        f"average over folds, against {model['planted_all'].mean():.0%} of all HVGs ({lift:.1f}× the base rate); "
        f"day-program genes are {model['day_program_at_100'].mean():.0%} of its top 100 against "
        f"{model['day_program_all'].mean():.0%} of all HVGs. Mitochondrial genes sit in its top 20 in "
        f"{int((mt > 0).sum())} of {len(mt)} folds ({mt.mean():.1f} on average): their share of a cell's counts follows "
        "stress and library handling, so a network that leans on them may be reading libraries, not genotype."
    )
