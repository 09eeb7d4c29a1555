"""Signed differences in tables and sentences (`report.numbers.difference_text`, `for_people`): to their precision."""

from __future__ import annotations

import pandas as pd

from lmna_scrna.report import numbers, words


def test_differences_keep_their_sign_and_precision_and_never_read_minus_zero() -> None:
    assert [numbers.difference_text(v) for v in (0.0171, -0.0004, -0.0, 0.0, float("nan"))] == \
        ["+0.017", "\u22120.00040", "+0.000", "+0.000", "–"]
    table = pd.DataFrame({"delta": [0.00065], "keras_minus_exact": [-0.00042], "mean": [-0.007]})
    assert words.for_people(table).iloc[0].tolist() == ["+0.00065", "\u22120.00042", "\u22120.007"]


def test_an_interval_of_differences_with_no_width_says_so() -> None:
    assert numbers.difference_interval_text(-0.013, -0.001) == "\u22120.013 to \u22120.001"
    assert numbers.difference_interval_text(0.0, 0.0) == "of no width, +0.000 in every fold"


def test_tiny_differences_are_written_in_fixed_point_with_two_significant_digits() -> None:
    """A biologist reads "+0.000061", not "+6.1e-05"."""
    assert [numbers.difference_text(v) for v in (6.1e-05, -7.6e-05, 0.00025)] == ["+0.000061", "\u22120.000076", "+0.00025"]
