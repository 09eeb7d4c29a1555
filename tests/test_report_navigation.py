"""The book's navigation (`report.navigation`): globs of executed pages expanded in reading order."""

from __future__ import annotations

from pathlib import Path

import yaml

from lmna_scrna.report.book.navigation import TOC_NAME, write_toc
from lmna_scrna.report.names import split_order

SPLITS = ["original", "dm_t0_v16", "dm_t9_v0", "dm_t16_v0", "dm_t19_v0", "random_cells"]


def _report() -> tuple[dict, dict]:
    ids = [*(f"train_A_{s}" for s in sorted(SPLITS)), "sweep_A_d2", "sweep_A_d1", "compare", "replicates_null"]
    ledger = {i: {"split": i.removeprefix("train_A_")} for i in ids if i.startswith("train_A_")}
    ledger |= {"sweep_A_d2": {"split": "dm_t19_v0"}, "sweep_A_d1": {"split": "dm_t19_v0"}, "compare": {},
               "replicates_null": {}}
    return {"executions": ids}, ledger


def test_split_order_is_original_then_held_out_day_then_cells_at_random() -> None:
    assert sorted(SPLITS, key=split_order) == SPLITS
    assert split_order(None) > split_order("random_cells") and split_order("no_such_split") > split_order("original")


def test_globs_expand_in_reading_order_and_the_rest_is_kept(tmp_path: Path) -> None:
    toc = {"format": "jb-book", "root": "intro", "parts": [
        {"caption": "Models", "chapters": [{"glob": "notebooks/train_A_*"}]},
        {"caption": "Sweep", "chapters": [{"file": "notebooks/compare"}, {"glob": "notebooks/sweep_*"}]},
        {"caption": "Nothing ran", "chapters": [{"glob": "notebooks/train_B_*"}]}]}
    (tmp_path / TOC_NAME).write_text(yaml.safe_dump(toc))
    report, ledger = _report()
    written = write_toc(tmp_path, report, ledger)
    assert written == tmp_path / "generated" / TOC_NAME
    out = yaml.safe_load(written.read_text())
    assert out["root"] == "intro" and [p["caption"] for p in out["parts"]] == ["Models", "Sweep", "Nothing ran"]
    assert [c["file"] for c in out["parts"][0]["chapters"]] == [f"notebooks/train_A_{s}" for s in SPLITS]
    assert out["parts"][1]["chapters"] == [{"file": "notebooks/compare"}, {"file": "notebooks/sweep_A_d2"},
                                           {"file": "notebooks/sweep_A_d1"}], "ties keep the profile's order"
    assert out["parts"][2]["chapters"] == [{"glob": "notebooks/train_B_*"}]


def test_a_book_without_a_toc_gets_none(tmp_path: Path) -> None:
    assert write_toc(tmp_path, *_report()) is None
