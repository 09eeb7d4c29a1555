"""The calibration page's tables: the protocol's null and power, and which genes the networks use.

Reads the finished replicates (`tl.calibration`) and the main report's runs;
computes nothing the replicates did not record except the summaries, so the
page is cheap to rebuild.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from ..paths import calibration_dir
from ..pp.assemble import load_processed
from ..tl import attribution
from ..tl.calibration import load_result, replicate_id
from ..tl.runs import baseline_dir, run_name, seed_dir
from .tables import REPORT_SPLITS, is_day_matched, run


def calibration_table(replicates: Sequence[tuple[float, int]], library_effect_scale: float = 1.0) -> pd.DataFrame:
    """One row per (effect scale, simulation seed) replicate × fold: test AUC, library AUC, the replicate's decisions."""
    rows = []
    for scale, seed in replicates:
        result = load_result(calibration_dir(replicate_id(scale, seed, library_effect_scale)))
        decisions = {k: result[k] for k in ("mean_auc", "auc_decision", "ranking_p", "ranking_decision")}
        for fold in result["folds"]:
            rows.append({"effect_scale": scale, "library_effect_scale": library_effect_scale, "sim_seed": seed,
                         "split": fold["split"], "test_auc": fold["test_auc"], "gsm_auc": fold["gsm_auc"],
                         **decisions})
    return pd.DataFrame(rows)


def calibration_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per effect scale: replicates, mean day-matched AUC, and how often each decision claims a signal.

    At effect scale 0 those rates are the false-positive rates of the report's
    rules; above 0 they are the protocol's power at that effect size.
    """
    per_replicate = table.drop_duplicates(["effect_scale", "sim_seed"])
    summary = per_replicate.groupby("effect_scale").agg(
        replicates=("sim_seed", "size"), mean_auc=("mean_auc", "mean"),
        auc_rule_rate=("auc_decision", "mean"), ranking_rule_rate=("ranking_decision", "mean"),
    ).reset_index()
    summary["meaning"] = ["false-positive rate" if s == 0 else "power" for s in summary["effect_scale"]]
    return summary


def null_p_value(observed: float, table: pd.DataFrame) -> tuple[float, int]:
    """Empirical one-sided p of an observed mean day-matched AUC against the null replicates, (1 + k) / (1 + n)."""
    null = table.loc[table["effect_scale"] == 0].drop_duplicates("sim_seed")["mean_auc"]
    return float((1 + (null >= observed).sum()) / (1 + len(null))), int(len(null))


def attribution_table(truth: dict[str, Any] | None, splits: Sequence[str] = REPORT_SPLITS) -> pd.DataFrame:
    """Per day-matched fold, every HVG ranked by Model A's gradient × input and by the logistic coefficients.

    Model A's first training seed is used, on the fold's test cells; the
    logistic baseline is ranked by its absolute coefficient. With `truth`
    (simulated data) each gene says whether it carries a planted patient
    effect and whether it belongs to the day program.
    """
    rows = []
    for split in (s for s in splits if is_day_matched(s)):
        finished = run(run_name(split, "A"))
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
    return table[["split", "method", "rank", "gene_id", "symbol", "score", "planted", "day_program"]]


def attribution_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per fold and method: share of planted genes and of day-program genes among the top 20/50/100."""
    rows = [{"split": split, "method": method, **attribution.precision_at(group)}
            for (split, method), group in table.groupby(["split", "method"], sort=False)]
    return pd.DataFrame(rows)


def ground_truth(raw_dir: Path) -> dict[str, Any] | None:
    """The simulator's ground truth of a raw-data folder, None for real data."""
    path = Path(raw_dir) / "ground_truth.json"
    return json.loads(path.read_text()) if path.is_file() else None
