"""Names of splits, runs and pages in words, so a page title, a table cell and a figure axis name a split
the same way.

A split's words come from its scheme's entry in `pp.splits.SCHEMES` (a new scheme brings its own), a
training configuration's from its settings. Reads no file: a split named in a table is known by its
scheme's name pattern (`pp.splits.identity_of_name`), and a sweep run's settings come from the runner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..pp.splits import SCHEMES, identity_of_name
from .runner.param_files import SWEEP_PREFIX

ACTIVATION_WORDS: dict[str, str] = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "gelu": "GELU", "elu": "ELU",
                                    "selu": "SELU"}
OPTIMIZER_WORDS: dict[str, str] = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}
#: What a page made from each notebook that runs many times is about (its title adds the execution's words).
PAGE_STEMS: dict[str, str] = {"01_prepare.ipynb": "Prepared split", "03_train_A.ipynb": "Model A (genotype only)",
                              "04_train_B.ipynb": "Model B (genotype + day)",
                              "07_calibration_replicate.ipynb": "Calibration replicates"}


def _identity(split: str | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A split's identity: the mapping itself, or what its name stands for (`pp.splits.identity_of_name`)."""
    if split is None or isinstance(split, Mapping):
        return split
    return identity_of_name(str(split))


def split_words(split: str | Mapping[str, Any], short: bool = False) -> str:
    """A split in words, from its identity (a mapping, or a name: `pp.splits.identity_of_name`).

    Its scheme's `Scheme.words` (`short`: `Scheme.short_words`) with its days: "original split", "cells at
    random", "test day 16, validation day 0" (short: "test day 16"). A name that is no split (a table's
    "pooled leave-one-day-out" row), or a scheme none registers, is its own words.
    """
    identity = _identity(split)
    if identity is None:
        return str(split).replace("_", " ")
    scheme = SCHEMES.get(str(identity.get("scheme")))
    if scheme is None:
        return str(identity.get("scheme")).replace("_", " ")
    return (scheme.short_words if short else scheme.words).format(
        test_day=identity.get("test_day"), val_day=identity.get("val_day"))


def split_order(split: str | Mapping[str, Any] | None) -> tuple[int, int, int]:
    """Where a split sorts in a list a reader scans: by its scheme's place in `SCHEMES` (reading order), then
    held-out (test) day, then validation day, from its identity (as days: "dm_t16" sorts before "dm_t9" as
    text). No split or an unknown one sorts last."""
    order = list(SCHEMES)
    identity = _identity(split)
    if identity is None:
        return (len(order) + 1, 0, 0)
    scheme = str(identity.get("scheme"))
    days = [-1 if identity.get(key) is None else int(identity[key]) for key in ("test_day", "val_day")]
    return (order.index(scheme) if scheme in order else len(order), days[0], days[1])


def run_words(settings: Mapping[str, Any]) -> str:
    """A training configuration in words: "depth 1, 20 epochs, batch 128, ReLU, Adam" (the settings it has)."""
    parts = []
    if "depth" in settings:
        parts.append(f"depth {settings['depth']}")
    if "epochs" in settings:
        parts.append(f"{settings['epochs']} epochs")
    if "batch_size" in settings:
        parts.append(f"batch {settings['batch_size']}")
    if "activation" in settings:
        parts.append(ACTIVATION_WORDS.get(settings["activation"], str(settings["activation"])))
    if "optimizer" in settings:
        parts.append(OPTIMIZER_WORDS.get(settings["optimizer"], str(settings["optimizer"])))
    if settings.get("model") == "B" and "loss_w_day" in settings:
        parts.append(f"day-loss weight {settings['loss_w_day']:g}")
    return ", ".join(parts)


def _seeds_words(seeds: Sequence[int]) -> str:
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def page_title(entry: Mapping[str, Any], variant: Mapping[str, Any] | None = None) -> str | None:
    """The title of a page of a notebook run many times, from its ledger entry; None for a notebook run once.
    `variant`: for a run of a sweep that builds on another's best, its own settings (the caller reads its
    sweep file: `runner.param_files.load_sweep`).

    "Model A (genotype only) — test day 16, validation day 0", "Sweep, Model A (genotype only): depth 1, …",
    "Sweep, Model B (genotype + day): day-loss weight 0.1 on the best Model A configuration",
    "Calibration replicates — scenario “null”, simulated studies 1, 2".
    """
    stem = PAGE_STEMS.get(entry["notebook"])
    if stem is None:
        return None
    p = entry.get("parameters", {})
    if variant is not None:
        return f"Sweep, {stem}: {run_words(variant)} on the best Model A configuration"
    if str(p.get("run_name") or "").startswith(SWEEP_PREFIX):
        return f"Sweep, {stem}: {run_words(p)}"
    scenario = p.get("scenario", p.get("condition"))
    if scenario is not None:
        return (f"{stem} — scenario “{str(scenario).replace('_', ' ')}”, simulated studies "
                f"{_seeds_words(p.get('sim_seeds', []))}")
    if p.get("scheme"):
        return f"{stem} — {split_words(p)}"
    return f"{stem} — {split_words(entry['split'])}" if entry.get("split") else None
