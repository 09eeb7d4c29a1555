"""The fitted worlds: the fit runs and is deterministic, the committed file is the fit's, every user reads it."""

from __future__ import annotations

import dataclasses
import json
import shlex

import numpy as np
import pytest
import yaml

from lmna_scrna.cli import build_parser
from lmna_scrna.config import TrainConfig
from lmna_scrna.errors import InputError
from lmna_scrna.io.study import load_samples
from lmna_scrna.sim import dataset as sim, params as sim_params, worlds
from lmna_scrna.tl import world_fit
from lmna_scrna.tl.calibration_design import Scenario
from lmna_scrna.tl.calibration_match import matched_effects
from lmna_scrna.tl.networks import Networks

TINY_NET = TrainConfig(width=16, depth=1, epochs=2, patience=1)
#: Studies small enough for a fit to run in seconds (the calibration size's genes, a fifth of its cells).
TINY_STUDY = sim_params.SimSize(n_cells=120, n_genes=4000, median_umis=4000.0)


@pytest.fixture()
def tiny(monkeypatch) -> str:
    monkeypatch.setitem(sim_params.SIM_SIZES, "tiny", TINY_STUDY)
    return "tiny"


@pytest.fixture(scope="module")
def committed() -> dict:
    return worlds.load_worlds()


def test_the_fit_runs_small_and_gives_the_same_file_twice(tmp_path, monkeypatch, tiny):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    files = [world_fit.fit_worlds(size=tiny, replicates=1, max_evaluations=2, worlds=("G",), config=TINY_NET,
                                  out=tmp_path / f"w{i}.yaml") for i in (1, 2)]
    first, second = (f.read_text() for f in files)
    assert first == second
    fit = yaml.safe_load(first)
    g = fit["fits"][tiny]["worlds"]["G"]
    assert [e["scale"] for e in g["evaluations"]] == list(world_fit.STARTS["G"])
    assert g["line_effect_scale"] == 0.0 and g["effect_scale"] in world_fit.STARTS["G"]
    assert set(g["achieved"]) == {"original", "dm_t0_v16", "dm_t16_v0", "dm_t19_v0"}
    assert fit["refit"] == "lmna-scrna fit-worlds --size tiny --replicates 1 --max-evaluations 2 --world G"


def test_a_refit_keeps_the_other_sizes_and_worlds(tmp_path, monkeypatch, committed, tiny):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    out = tmp_path / "worlds.yaml"
    out.write_text(worlds.worlds_path().read_text())
    world_fit.fit_worlds(size=tiny, replicates=1, max_evaluations=2, worlds=("L",), config=TINY_NET, out=out)
    after = yaml.safe_load(out.read_text())
    assert after["fits"]["calibration"] == committed["fits"]["calibration"]
    assert set(after["fits"][tiny]["worlds"]) == {"L"}
    world_fit.fit_worlds(size=tiny, replicates=1, max_evaluations=2, worlds=("G",), config=TINY_NET, out=out)
    again = yaml.safe_load(out.read_text())
    assert again["fits"][tiny]["worlds"]["L"] == after["fits"][tiny]["worlds"]["L"], "refitting G kept L"
    assert again["fits"][tiny]["command"].endswith("--world G L")


def test_the_secant_steps_towards_the_target_and_is_bounded():
    assert 1.0 < world_fit.next_scale([(1.0, 0.7), (2.0, 0.95)], 0.88) < 2.0
    assert world_fit.next_scale([(1.0, 0.60), (2.0, 0.62)], 0.88) == pytest.approx(2.0 * world_fit.MAX_STEP)
    assert world_fit.next_scale([(1.0, 0.6), (2.0, 0.6)], 0.88) == pytest.approx(2.0 * world_fit.MAX_STEP)


def test_the_committed_fit_is_the_fit_commands_output(committed):
    """Made by this simulator, by the command it records, and internally what the fit computes from its evaluations."""
    assert committed["generator_version"] == sim_params.GENERATOR_VERSION
    assert committed["targets"] | {"source": None} == world_fit.paper_targets() | {"source": None}
    assert committed["refit"] == " && ".join(f["command"] for f in committed["fits"].values())
    assert next(iter(committed["fits"])) == worlds.FALLBACK_SIZE, "the size the others start from is fitted first"
    for size, fit in committed["fits"].items():
        args = build_parser().parse_args(shlex.split(fit["command"])[1:])
        assert args.size == size and sorted(args.world) == sorted(fit["worlds"])
        assert fit["replicates"] == args.replicates and fit["sim_seeds"] == list(range(1, args.replicates + 1))
        network = {k: v for k, v in TrainConfig().to_dict().items() if k != "seed"}
        assert fit["network"] == json.loads(json.dumps(network)), "fitted with the build's network (tuples as lists)"
        _check_fit(fit, args.max_evaluations)


def _check_fit(fit: dict, max_evaluations: int) -> None:
    for name, entry in fit["worlds"].items():
        target = entry["target_day_matched_mean"]
        kept = min(entry["evaluations"], key=lambda e: abs(e["day_matched_mean"] - target))
        assert entry[worlds.WORLDS[name]] == kept["scale"] and len(entry["evaluations"]) <= max_evaluations
        other = "line_effect_scale" if worlds.WORLDS[name] == "effect_scale" else "effect_scale"
        assert entry[other] == 0.0
        assert entry["achieved"] == {k: round(float(np.mean(v)), 4) for k, v in kept["auc"].items()}
        for e in entry["evaluations"]:
            assert all(len(v) == fit["replicates"] for v in e["auc"].values())
            assert e["day_matched_mean"] == pytest.approx(
                np.mean([np.mean(v) for k, v in e["auc"].items() if k != "original"]), abs=1e-4)


def test_one_committed_study_reproduces(committed, tmp_path, monkeypatch):
    """Study 1 of world G at its kept scale, trained again here, scores what the committed fit recorded."""
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    size = "calibration"
    entry = committed["fits"][size]["worlds"]["G"]
    kept = next(e for e in entry["evaluations"] if e["scale"] == entry["effect_scale"])
    again = world_fit.evaluate("G", entry["effect_scale"], size, [1], TrainConfig(), Networks())
    for split, values in kept["auc"].items():
        assert again[split][0] == pytest.approx(values[0], abs=0.02), split


def test_every_user_reads_the_worlds_from_the_file(tmp_path, monkeypatch, committed):
    """The default data, the calibration's world scenarios and the donors take their scales from the file."""
    edited = json.loads(json.dumps(committed))
    edited["fits"]["calibration"]["worlds"]["G"]["effect_scale"] = 0.123
    edited["fits"]["calibration"]["worlds"]["L"]["line_effect_scale"] = 0.456
    path = tmp_path / "worlds.yaml"
    path.write_text(yaml.safe_dump(edited))
    monkeypatch.setattr(worlds, "worlds_path", lambda: path)
    assert worlds.default_world("calibration") == worlds.World("G", 0.123, 0.0, "calibration")
    assert worlds.world("L", "smoke").line_effect_scale == 0.456  # a size without its own fit: the calibration's
    truth = tmp_path / "raw"
    truth.mkdir()
    (truth / "ground_truth.json").write_text(json.dumps({"library_effect_scale": 1.0}))
    scenario = Scenario("world_L", "line", 0.0, 0.0, 1, "calibration", world="L")
    matched = matched_effects(truth, scenario)
    assert (matched.effect_scale, matched.line_effect_scale) == (0.0, 0.456)
    pair = load_samples().iloc[[0, 8]]
    monkeypatch.setitem(sim_params.SIM_SIZES, "pair", dataclasses.replace(sim_params.SIM_SIZES["smoke"], n_cells=60))
    out = sim.simulate(tmp_path / "data", size="pair", sheet=pair)
    marker = json.loads((out / sim_params.MARKER_FILE).read_text())
    assert (marker["effect_scale"], marker["line_effect_scale"], marker["world"]) == (0.123, 0.0, "G")


def test_a_fit_from_another_simulator_is_refused(tmp_path, committed):
    stale = dict(committed, generator_version="0.9")
    path = tmp_path / "worlds.yaml"
    path.write_text(yaml.safe_dump(stale))
    with pytest.raises(InputError, match="refit"):
        worlds.load_worlds(path)
    with pytest.raises(InputError, match="unknown world"):
        worlds.world("X", "full")
