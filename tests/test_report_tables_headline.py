"""The headline figure's frames (`report.tables.auc_figure_frames`): seeds, the fold interval, Δ to its precision."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from _run_fixtures import fake_run

from lmna_scrna.report.results import tables
from lmna_scrna.tl.inference import fold_interval

SPLITS = ["original", "dm_t0_v16", "dm_t19_v0"]


@pytest.fixture()
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    for split, strength in zip(SPLITS, (-0.3, 0.2, 0.4)):
        fake_run(f"{split}_A", strength, seeds=(1, 2, 3))
        fake_run(f"{split}_B", strength, seeds=(1, 2, 3), model="B")  # same scores: Δ exactly 0


def test_frames_name_splits_in_words_add_the_fold_mean_and_never_print_minus_zero(runs: None) -> None:
    bars, seeds = tables.auc_figure_frames(SPLITS)
    groups = list(dict.fromkeys(bars["split"]))
    assert groups == ["original split", "test day 0", "test day 19", "day-matched mean (2 held-out days)"]
    assert len(seeds) == len(SPLITS) * 2 * 3 and set(seeds["split"]) == set(groups[:-1])
    assert (bars["delta"] == "+0.000").all(), "Δ of identical models is shown as +0.000, never -0.000"
    pooled = bars[bars["split"] == groups[-1]].set_index("model")
    wide = tables.auc_by_split(SPLITS)
    expected = fold_interval(wide.loc[wide["split"] != "original", "A_mean"].tolist())
    assert math.isclose(pooled.loc["A", "lo"], expected.lo) and math.isclose(pooled.loc["A", "hi"], expected.hi)
    assert bars.loc[bars["split"] != groups[-1], "lo"].isna().all()
    one = seeds[(seeds["split"] == "test day 0") & (seeds["model"] == "A")]["auc"].mean()
    assert math.isclose(one, bars.set_index(["split", "model"]).loc[("test day 0", "A"), "auc"])
