"""Verdict words decided by named checks, the build's claims check, and one number format everywhere."""

from __future__ import annotations

import json

import nbformat
import pytest

from lmna_scrna.report.book.claim_check import ClaimCheckFailed, check_claims, glued_values, pastes
from lmna_scrna.report.book.claims import CHECKS, RECORDS, WIDE_INTERVAL, claim, redecide
from lmna_scrna.report.numbers import (
    MINUS,
    auc_interval_text,
    counted,
    difference_interval_text,
    difference_text,
    sd_text,
)
from lmna_scrna.report.words import for_people
from lmna_scrna.tl.inference import AT_CEILING, CEILING, fold_interval, verdict


@pytest.mark.parametrize(("check", "numbers", "word"), [
    ("inverted", {"auc": 0.239}, "inverted (below 0.5)"),
    ("inverted", {"auc": 0.980}, "not inverted (above 0.5)"),
    ("interval_width", {"lo": 0.996, "hi": 1.001}, "narrow"),
    ("interval_width", {"lo": 0.746, "hi": 1.065}, "wide"),
    ("ladder", {"aucs": [1.0, 0.98, 0.999]}, "does not fall at every step"),
    ("ladder", {"aucs": [0.999, 0.477, 0.906]}, "does not fall at every step"),
    ("ladder", {"aucs": [0.999, 0.95, 0.90]}, "falls at every step"),
    ("paired", {"lo": -0.0002, "hi": 0.00027, "lowest": 0.997, "first": "Model B", "second": "Model A"}, AT_CEILING),
    ("paired", {"lo": -0.001, "hi": -0.0001, "lowest": 0.995, "first": "Model A", "second": "logistic regression"},
     AT_CEILING),
    ("paired", {"lo": -0.05, "hi": -0.01, "lowest": 0.8, "first": "Model A", "second": "logistic regression"},
     "logistic regression better"),
    ("paired", {"lo": -0.01, "hi": 0.003, "lowest": 0.8, "first": "Model B", "second": "Model A"},
     "no difference detected"),
    ("accounts", {"reach": 0, "n": 19}, "so this build's AUC is above all 19 of them at the replicates' size"),
    ("accounts", {"reach": 3, "n": 19}, "so a line difference alone can account for it"),
    ("credited", {"claims": 15, "n": 19}, "on this design a claim of the protocol cannot be credited to genotype"),
])
def test_each_check_decides_its_word_from_the_numbers(check: str, numbers: dict, word: str) -> None:
    c = claim(check, **numbers)
    assert c.word == word
    assert redecide(json.loads(json.dumps({"check": check, "numbers": numbers, "word": word}))) == word


def test_the_ceiling_rule_reads_a_tiny_difference_at_the_ceiling_as_uninformative() -> None:
    diffs = [-0.0003, -0.0002, -0.0004, -0.0001]  # "logistic regression better" by the interval alone
    assert verdict(fold_interval(diffs), "Model A", "logistic regression") == "logistic regression better"
    assert verdict(fold_interval(diffs), "Model A", "logistic regression", lowest=CEILING) == AT_CEILING
    assert verdict(fold_interval(diffs), "Model A", "logistic regression", lowest=CEILING - 0.01) != AT_CEILING
    assert verdict(fold_interval([0.01] * 4), "A", "B").startswith("uninformative (the same difference")


def test_every_check_is_named_once_and_wide_has_a_stated_width() -> None:
    assert set(CHECKS) == {"inverted", "interval_width", "paired", "ladder", "calls", "accounts", "shift", "credited",
                           "crossing", "worlds", "donors"}
    assert claim("interval_width", lo=0.0, hi=WIDE_INTERVAL + 1e-9).word == "wide"


def _notebook(glued: dict[str, str], records: dict, markdown: str = "") -> nbformat.NotebookNode:
    outputs = [nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": repr(v)},
                                      metadata={"scrapbook": {"name": k, "mime_prefix": "application/papermill.record/"}})
               for k, v in {**glued, RECORDS: json.dumps(records)}.items()]
    cell = nbformat.v4.new_code_cell("glue", outputs=outputs)
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown), cell])


def test_the_claims_check_passes_a_true_book_and_fails_a_forced_claim() -> None:
    records = {"original_inverted": {"check": "inverted", "numbers": {"auc": 0.477}, "word": "inverted (below 0.5)"}}
    good = _notebook({"original_auc": "0.477", "original_inverted": "inverted (below 0.5)"}, records,
                     "AUC {glue:text}`original_auc:.3f`, **{glue:text}`original_inverted`**.")
    page = {"intro.md": "It is {glue:text}`notebooks/compare.ipynb::original_inverted:s`."}
    assert glued_values(good)["original_auc"] == "0.477"
    assert check_claims({"notebooks/compare.ipynb": good}, page) == 1
    # forced: the notebook glued a word its check does not give for its number (a typed or stale verdict)
    forced = {"original_inverted": {**records["original_inverted"], "numbers": {"auc": 0.98}}}
    bad = _notebook({"original_auc": "0.98", "original_inverted": "inverted (below 0.5)"}, forced)
    with pytest.raises(ClaimCheckFailed, match="original_inverted.*'not inverted \\(above 0.5\\)'"):
        check_claims({"notebooks/compare.ipynb": bad}, page)
    with pytest.raises(ClaimCheckFailed, match="intro.md pastes 'missing_key'"):
        check_claims({"notebooks/compare.ipynb": good}, {"intro.md": "{glue:text}`notebooks/compare.ipynb::missing_key:s`"})
    with pytest.raises(ClaimCheckFailed, match="from notebooks/worlds.ipynb, which is not in this book"):
        check_claims({"notebooks/compare.ipynb": good}, {"intro.md": "{glue:text}`notebooks/worlds.ipynb::x:s`"})


def test_a_paste_from_another_notebook_without_a_format_is_refused() -> None:
    """myst-nb splits `doc::key` at its last colon: without a format it pastes nothing, so the check says so."""
    nb = _notebook({"data_words": "the real GSE269705 data"}, {})
    page = {"intro.md": "this build used {glue:text}`notebooks/compare.ipynb::data_words`."}
    with pytest.raises(ClaimCheckFailed, match="needs a format"):
        check_claims({"notebooks/compare.ipynb": nb}, page)
    assert check_claims({"notebooks/compare.ipynb": nb},
                        {"intro.md": "{glue:text}`notebooks/compare.ipynb::data_words:s`"}) == 0


def test_pastes_are_found_with_and_without_a_notebook_path() -> None:
    text = "a {glue:text}`notebooks/compare.ipynb::day_matched_auc:.3f` b {glue:text}`lodo_min_day` c {glue}`fig`"
    assert list(pastes(text)) == [("notebooks/compare.ipynb", "day_matched_auc"), (None, "lodo_min_day"), (None, "fig")]


def test_one_number_format_one_minus_sign_no_plus_minus_zero_no_sometimes_plural() -> None:
    assert difference_text(-0.019) == f"{MINUS}0.019" and difference_text(0.0) == "+0.000"
    assert difference_interval_text(-0.0002, 0.00027) == f"{MINUS}0.00020 to +0.00027"
    assert difference_text(-0.0004) == f"{MINUS}0.00040"
    assert auc_interval_text(0.746, 1.065) == "0.746–1 (clipped at 1)"
    assert auc_interval_text(0.9986, 0.9994) == "0.9986–0.9994", "two different bounds never print alike"
    assert auc_interval_text(1.0, 1.0) == "1 (at the ceiling)"
    assert sd_text(0.0002, 3) == " ± <0.001" and sd_text(0.012, 3) == " ± 0.012"
    assert counted(1, "training seed") == "1 training seed" and counted(3, "training seed") == "3 training seeds"
    table = for_people(__import__("pandas").DataFrame({"mean": [-0.0003], "ci_lo": [-0.0002], "ci_hi": [0.00027],
                                                      "auc_mean": [0.997], "auc_sd": [0.0001], "x": [-0.0001]}))
    text = " ".join(table.astype(str).to_numpy().ravel())
    assert "-" not in text and "(at the floor)" not in text and "± 0.000" not in text
    assert f"{MINUS}0.00020 to +0.00027" in text
