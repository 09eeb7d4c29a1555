"""`--help` lists the choices of every option that has them, and a wrong choice is refused naming them."""

from __future__ import annotations

import argparse
import re

import pytest

from lmna_scrna.cli import build_parser, main
from lmna_scrna.config import TRAIN_CHOICES


def subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_help_lists_the_choices_of_every_choice_option(command):
    parser = subcommands()[command]
    text = " ".join(parser.format_help().split())  # argparse wraps long usage lines
    for action in parser._actions:
        if action.choices is not None and action.help != argparse.SUPPRESS:
            assert "{" + ",".join(map(str, action.choices)) + "}" in text, f"{command} --help hides {action.dest}'s choices"


def test_every_named_training_field_is_an_option_with_its_choices():
    options = {a.dest: a for a in subcommands()["train"]._actions}
    assert {name: tuple(options[name].choices or ()) for name in TRAIN_CHOICES} == TRAIN_CHOICES


def test_a_wrong_choice_is_refused_naming_the_choices(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--data", str(tmp_path / "x.h5ad"), "--run", "r", "--optimizer", "adamw"])
    assert stop.value.code == 2
    assert re.search(r"--optimizer: invalid choice: 'adamw' \(choose from '?adam'?, '?sgd'?, '?rmsprop'?\)",
                     capsys.readouterr().err)  # quoted or not, as the Python release words it
