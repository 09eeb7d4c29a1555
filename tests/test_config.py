"""The parameter records (config.py): a number that cannot train is refused naming the field."""

from __future__ import annotations

import pytest

from lmna_scrna.errors import InputError


@pytest.mark.parametrize(
    ("option", "value"),
    [("lr", "inf"), ("momentum", "nan"), ("momentum", "-1"), ("loss-w-day", "inf"), ("dropout", "nan")],
)
def test_bad_training_number_is_refused_naming_it(option, value):
    from lmna_scrna.config import TrainConfig

    with pytest.raises(InputError, match=rf"TrainConfig\.{option.replace('-', '_')}={value}"):
        TrainConfig(**{option.replace("-", "_"): float(value)}).check()
