"""Shared fixtures: the study sheet and a writer of tiny 10x libraries in every layout."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from _tenx_fixtures import Written, write_10x

from lmna_scrna.io.study import load_samples


@pytest.fixture(name="write_10x")
def write_10x_fixture() -> Callable[..., Written]:
    """`write_10x(target, gsm=…, layout=…, …) -> Written`: a tiny 10x library on disk."""
    return write_10x


@pytest.fixture(scope="session")
def sheet() -> pd.DataFrame:
    """The project's study sheet (params/samples.csv), validated."""
    return load_samples()
