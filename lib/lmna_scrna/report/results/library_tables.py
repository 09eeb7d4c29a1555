"""The report's library-level tables: the unit of this study is the GSM, not the cell.

* `gsm_level`: every tested library's score, rank in its fold and calls;
* `gsm_inference`: per fold, the library-level AUC; pooled over the
  leave-one-day-out folds, its exact permutation p-value;
* `paired_differences`: B − A and network − linear baseline, decided by the
  interval over held-out days (`tl.inference.RULE`), never by the sign of a mean;
* `negative_control`: how far library identity alone moves the genotype score
  (two control libraries of the same day, tested together).

Scores of a network are its mean patient probability per library, averaged
over training seeds; the pseudobulk model scores a library directly.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ...tl.inference import (
    RULE,
    bootstrap_auc,
    fold_interval,
    gsm_auc,
    ranking_permutation_test,
    verdict,
)
from ...tl.runs import run_name
from ..numbers import difference_text
from .tables import MODELS, finished_run, is_day_matched, report_splits

#: The sample-level baseline's rows in the library tables.
PSEUDOBULK = "pseudobulk"

#: The `split` of the pooled leave-one-day-out row of `gsm_inference`.
POOLED = "pooled leave-one-day-out"


def boot_seed(*key: str) -> int:
    """A bootstrap seed fixed by what is resampled (same tables on every rebuild)."""
    return zlib.crc32("/".join(key).encode())


def _network_scores(split: str, model: str) -> pd.DataFrame:
    """Per test GSM of a network run: mean patient probability (averaged over seeds) and threshold calls."""
    rows = [g for m in finished_run(run_name(split, model))["metrics"].values() for g in m["gsm"]]
    return (
        pd.DataFrame(rows)
        .groupby("gsm", sort=True)
        .agg(condition=("condition", "first"), day=("day", "first"), y_true=("y_true", "first"),
             score=("mean_p", "mean"), threshold_right=("correct", "mean"))
        .reset_index()
    )


def _pseudobulk_scores(split: str) -> pd.DataFrame:
    """Per test GSM of the pseudobulk model (fitted beside Model A's run): its logit, right side of 0."""
    entries = [g for g in finished_run(run_name(split, "A"))["pseudobulk"]["gsm"] if g["partition"] == "test"]
    cells = _network_scores(split, "A")[["gsm", "condition", "day"]]
    table = pd.DataFrame(entries, columns=["gsm", "y_true", "score"]).merge(cells, on="gsm")
    table["threshold_right"] = ((table["score"] > 0).astype(int) == table["y_true"]).astype(float)
    return table


def scores(split: str, model: str) -> pd.DataFrame:
    return _pseudobulk_scores(split) if model == PSEUDOBULK else _network_scores(split, model)


def library_calls(splits: Sequence[str] | None = None, models: Sequence[str] = (*MODELS, PSEUDOBULK)) -> pd.DataFrame:
    """Per model, over the day-matched folds: test libraries on the right side of the validation-chosen threshold
    (mean over seeds), beside how many the ranking puts right of every opposite library — calls and ranking differ."""
    splits = report_splits() if splits is None else splits
    table = gsm_level([s for s in splits if is_day_matched(s)], models)
    return table.groupby("model", sort=False).agg(
        libraries=("gsm", "size"), called_right=("threshold_right", "sum"), ranked_right=("right_of_every_opposite", "sum"),
    ).reset_index()


def gsm_level(splits: Sequence[str] | None = None, models: Sequence[str] = (*MODELS, PSEUDOBULK)) -> pd.DataFrame:
    """One row per split × model × tested GSM: score, rank in its fold, calls, and times tested.

    ``right_of_every_opposite`` is the ranking call: the library scores above
    (patient) or below (control) every library of the other genotype in its
    fold. ``threshold_right`` is the share of seeds whose validation-chosen
    threshold puts it on the right side (0 for the pseudobulk logit). A GSM
    tested by two listed splits appears in both; ``times_tested`` says so.
    """
    splits = report_splits() if splits is None else splits
    rows = []
    for split in splits:
        for model in models:
            t = scores(split, model)
            t["rank"] = t["score"].rank(ascending=False, method="average")
            patient = t.loc[t["y_true"] == 1, "score"].to_numpy()
            control = t.loc[t["y_true"] == 0, "score"].to_numpy()
            t["right_of_every_opposite"] = np.where(
                t["y_true"] == 1, t["score"] > control.max(initial=-np.inf), t["score"] < patient.min(initial=np.inf)
            )
            rows.append(t.assign(split=split, model=model))
    table = pd.concat(rows, ignore_index=True)
    tested = table.drop_duplicates(["split", "gsm"]).groupby("gsm").size()
    table["times_tested"] = table["gsm"].map(tested).astype(int)
    columns = ["split", "model", "gsm", "condition", "day", "y_true", "score", "rank", "right_of_every_opposite",
               "threshold_right", "times_tested"]
    return table[columns]


def gsm_inference(splits: Sequence[str] | None = None, models: Sequence[str] = (*MODELS, PSEUDOBULK)) -> pd.DataFrame:
    """Per fold and model: library-level AUC; per model, the leave-one-day-out folds pooled with an exact p-value.

    Only the day-matched folds are pooled: they test each library once, while
    the original split re-tests two of their libraries.
    """
    splits = report_splits() if splits is None else splits
    rows = []
    for model in models:
        folds = []
        for split in splits:
            t = scores(split, model)
            pooled = is_day_matched(split)
            rows.append({
                "model": model, "split": split, "libraries": len(t), "patients": int(t["y_true"].sum()),
                "gsm_auc": gsm_auc(t["score"], t["y_true"]), "in_pooled": pooled,
            })
            if pooled:
                folds.append((t["score"].to_numpy(), t["y_true"].to_numpy()))
        if folds:
            test = ranking_permutation_test(folds)
            rows.append({
                "model": model, "split": POOLED, "libraries": sum(len(s) for s, _ in folds),
                "patients": int(sum(y.sum() for _, y in folds)), "gsm_auc": test.pairs_right / test.pairs_total,
                "in_pooled": True, "pairs_right": test.pairs_right, "pairs_total": test.pairs_total,
                "p_value": test.p_value, "assignments": test.assignments,
            })
    return pd.DataFrame(rows)


#: One fold of a paired comparison: first − second, and the lower of the two sides' AUCs (the ceiling check).
FoldPair = tuple[float, float]


def _fold_differences(splits: Sequence[str], first: str, second: str) -> list[FoldPair]:
    """Per day-matched fold: first − second test AUC and the lower side, each averaged over paired seeds."""
    out = []
    for split in (s for s in splits if is_day_matched(s)):
        a = finished_run(run_name(split, first if first in MODELS else "A"))
        if second == "logistic regression":
            base = a["baseline"]["test_auc"]
            ours = float(np.mean([m["test_auc"] for m in a["metrics"].values()]))
            out.append((ours - base, min(ours, base)))
        else:
            b = finished_run(run_name(split, second))
            seeds = sorted(set(a["metrics"]) & set(b["metrics"]))
            x = float(np.mean([a["metrics"][s]["test_auc"] for s in seeds]))
            y = float(np.mean([b["metrics"][s]["test_auc"] for s in seeds]))
            out.append((x - y, min(x, y)))
    return out


def _gsm_auc_differences(splits: Sequence[str], first: str, second: str) -> list[FoldPair]:
    out = []
    for split in (s for s in splits if is_day_matched(s)):
        x, y = scores(split, first), scores(split, second)
        auc_x, auc_y = gsm_auc(x["score"], x["y_true"]), gsm_auc(y["score"], y["y_true"])
        out.append((auc_x - auc_y, min(auc_x, auc_y)))
    return out


def paired_differences(splits: Sequence[str] | None = None) -> pd.DataFrame:
    """Each comparison the report makes, with its interval over held-out days and the verdict of `RULE`
    (uninformative when both sides sit at the ceiling in every fold)."""
    splits = report_splits() if splits is None else splits
    comparisons = [
        ("Model B − Model A", "test AUC (cells)", "B", "A", _fold_differences(splits, "B", "A")),
        ("Model A − logistic regression", "test AUC (cells)", "Model A", "logistic regression",
         _fold_differences(splits, "A", "logistic regression")),
        ("Model A − pseudobulk", "library AUC", "Model A", "pseudobulk", _gsm_auc_differences(splits, "A", PSEUDOBULK)),
    ]
    rows = []
    for name, metric_name, first, second, folds in comparisons:
        diffs = [d for d, _ in folds]
        lowest = min((low for _, low in folds), default=float("nan"))
        interval = fold_interval(diffs)
        rows.append({
            "comparison": name, "metric": metric_name, "folds": interval.n,
            "first_better": int(sum(d > 0 for d in diffs)), "mean": interval.mean,
            "ci_lo": interval.lo, "ci_hi": interval.hi, "lowest_auc": lowest,
            "verdict": verdict(interval, first if first != "B" else "Model B", second if second != "A" else "Model A",
                               lowest),
            "per_fold": "; ".join(difference_text(d) for d in diffs), "rule": RULE,
        })
    return pd.DataFrame(rows)


def _pair(p: pd.DataFrame, high: str, low: str, key: tuple[str, ...]) -> dict[str, float]:
    """AUC that a cell of library `high` outscores one of `low`, with its cell-bootstrap interval."""
    cells = p[p["gsm"].isin([high, low])]
    is_high = (cells["gsm"] == high).to_numpy()
    auc = gsm_auc(cells["p_geno"].to_numpy(), is_high)
    lo, hi = bootstrap_auc([cells["p_geno"].to_numpy()], is_high, cells["gsm"].to_numpy(), seed=boot_seed(*key))
    return {"auc": auc, "ci_lo": lo, "ci_hi": hi, "distance_from_half": abs(auc - 0.5)}


def negative_control(splits: Sequence[str] | None = None, models: Sequence[str] = MODELS) -> pd.DataFrame:
    """Library identity alone: the genotype score's AUC between two control libraries tested together.

    In a fold whose test day holds two control libraries (day 9 here: same
    condition, same day), the AUC of the *same* genotype score between them
    would be 0.5 if the score saw genotype only; its distance from 0.5 is what
    library identity alone moves the score. Beside it, each patient-vs-control
    library pair of the fold (genotype and library differ together). One row
    per pair, model and seed, each with its cell-bootstrap interval. A
    genotype AUC is evidence for genotype only to the extent its distance
    from 0.5 exceeds the control pair's.
    """
    splits = report_splits() if splits is None else splits
    rows = []
    for split in (s for s in splits if is_day_matched(s)):
        for model in models:
            pred = finished_run(run_name(split, model))["predictions"]
            libs = pred.drop_duplicates("gsm").set_index("gsm")["y_true"].sort_index()
            controls, patients = libs.index[libs == 0].tolist(), libs.index[libs == 1].tolist()
            if len(controls) < 2:
                continue
            pairs = [("control vs control (library only)", high, low)
                     for low, high in itertools.combinations(controls, 2)]
            pairs += [("patient vs control (genotype and library)", pt, c) for pt in patients for c in controls]
            for seed, p in pred.groupby("seed"):
                for kind, high, low in pairs:
                    rows.append({"split": split, "model": model, "seed": int(seed), "contrast": kind,
                                 "higher": high, "lower": low,
                                 **_pair(p, high, low, (split, model, str(seed), high, low))})
    return pd.DataFrame(rows)
