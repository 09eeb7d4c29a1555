"""The simulated default dataset: GEO flat layout, valid 10x files, planted structure, determinism."""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

import lmna_scrna
from lmna_scrna.atomic import _host
from lmna_scrna.cli import main
from lmna_scrna.errors import InputError
from lmna_scrna.io.raw_folder import near_empty
from lmna_scrna.io.study import load_samples
from lmna_scrna.paths import PROJECT_ROOT
from lmna_scrna.sim import dataset as sim, model as sim_model, params as sim_params, sampler as sim_sampler, worlds

#: Smoke's gene count (doublets above 6000 genes need it) with fewer cells, to keep tests fast.
TINY = sim_params.SimSize(n_cells=200, n_genes=8000, median_umis=4000.0)
SUFFIXES = ("matrix.mtx.gz", "barcodes.tsv.gz", "features.tsv.gz")
QC_MIN_GENES, QC_MAX_GENES, QC_MAX_PCT_MT = 200, 6000, 20.0


@pytest.fixture(scope="module")
def tiny_size():
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sim_params.SIM_SIZES, "tiny", TINY)
        yield "tiny"


@pytest.fixture(scope="module")
def sheet() -> pd.DataFrame:
    return load_samples()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, tiny_size, sheet) -> Path:
    return sim.simulate(tmp_path_factory.mktemp("sim") / "data", size=tiny_size, seed=42, sheet=sheet)


def _stem(row) -> str:
    return f"{row.gsm}_{row.condition}_day{row.day}{row.replicate}_filtered_"


def _read(folder: Path, row) -> tuple[sp.csr_matrix, pd.DataFrame, pd.DataFrame]:
    """Cells x genes counts, features and barcodes of one GSM, read with scipy and pandas."""
    stem = folder / _stem(row)
    matrix = scipy.io.mmread(f"{stem}matrix.mtx.gz")
    features = pd.read_csv(f"{stem}features.tsv.gz", sep="\t", header=None)
    barcodes = pd.read_csv(f"{stem}barcodes.tsv.gz", sep="\t", header=None)
    return sp.csr_matrix(matrix.T), features, barcodes


def _qc_metrics(counts: sp.csr_matrix, symbols: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Detected genes and % mitochondrial UMIs per cell, as the paper's QC computes them."""
    is_mt = symbols.str.startswith("MT-").to_numpy()
    total = np.asarray(counts.sum(axis=1)).ravel()
    mt = np.asarray(counts[:, is_mt].sum(axis=1)).ravel()
    return np.diff(counts.indptr), 100.0 * mt / np.maximum(total, 1)


def test_layout_is_exactly_geo_flat(dataset, sheet):
    expected = {_stem(row) + suffix for row in sheet.itertuples() for suffix in SUFFIXES}
    assert {p.name for p in dataset.iterdir()} == expected | {sim_params.GROUND_TRUTH_FILE, sim_params.MARKER_FILE}
    assert not list(dataset.parent.glob(".*part*")), "temp folder left behind"


def test_files_are_valid_10x(dataset, sheet):
    first_features = None
    for row in sheet.itertuples():
        counts, features, barcodes = _read(dataset, row)
        assert counts.shape == (len(barcodes), len(features)) == (TINY.n_cells, TINY.n_genes)
        assert np.issubdtype(counts.dtype, np.integer) and counts.data.min() > 0
        header = gzip.open(dataset / f"{_stem(row)}matrix.mtx.gz", "rt").readline()
        assert header.strip() == "%%MatrixMarket matrix coordinate integer general"
        assert list(features[2].unique()) == ["Gene Expression"]
        assert features[0].is_unique and features[0].str.fullmatch(r"ENSG\d{11}").all()
        assert barcodes[0].is_unique and barcodes[0].is_monotonic_increasing
        assert barcodes[0].str.fullmatch(r"[ACGT]{16}-1").all()
        if first_features is None:
            first_features = features
        pd.testing.assert_frame_equal(features, first_features)
    symbols = first_features[1]
    assert list(symbols[-len(sim_params.MT_GENES) :]) == list(sim_params.MT_GENES)
    named = {s for genes in sim_params.MARKERS.values() for s in genes} | {"LMNA"}
    assert named <= set(symbols)
    assert symbols[~symbols.isin(named | set(sim_params.MT_GENES))].str.fullmatch(r"SIMG\d{5}").all()


def test_gzip_headers_carry_no_time_or_name(dataset):
    for path in dataset.glob("*.gz"):
        head = path.read_bytes()[:10]
        assert head[3] == 0, f"{path.name}: gzip header flags set (file name?)"
        assert head[4:8] == b"\0\0\0\0", f"{path.name}: gzip header has a time stamp"


def test_planted_qc_failures_are_5_to_10_percent(dataset, sheet):
    truth = json.loads((dataset / sim_params.GROUND_TRUTH_FILE).read_text())
    doublets_seen = 0
    for row in sheet.itertuples():
        counts, features, _ = _read(dataset, row)
        n_genes, pct_mt = _qc_metrics(counts, features[1])
        planted = truth["gsms"][row.gsm]["qc_failures_planted"]
        too_few, too_many, high_mt = n_genes < QC_MIN_GENES, n_genes > QC_MAX_GENES, pct_mt > QC_MAX_PCT_MT
        failing = too_few | too_many | high_mt
        assert 0.05 <= failing.mean() <= 0.10, row.gsm
        assert too_few.sum() == planted["low_genes"], row.gsm
        assert too_many.sum() == planted["doublet"], row.gsm  # healthy cells stay below the ceiling
        assert abs(int(high_mt.sum()) - planted["high_mt"]) <= 2, row.gsm  # a few low-gene cells are high-MT too
        doublets_seen += int(too_many.sum())
    assert doublets_seen > 0


def _pseudobulk(dataset: Path, sheet: pd.DataFrame) -> pd.DataFrame:
    """log1p CPM of each GSM's summed counts over cells passing QC (GSMs x genes, gene ids as columns)."""
    rows = {}
    for row in sheet.itertuples():
        counts, features, _ = _read(dataset, row)
        n_genes, pct_mt = _qc_metrics(counts, features[1])
        passing = (n_genes >= QC_MIN_GENES) & (n_genes <= QC_MAX_GENES) & (pct_mt <= QC_MAX_PCT_MT)
        total = np.asarray(counts[passing].sum(axis=0)).ravel()
        rows[row.gsm] = pd.Series(np.log1p(1e6 * total / total.sum()), index=features[0].to_numpy())
    return pd.DataFrame(rows).T


def test_day_program_dominates_a_present_genotype_effect(dataset, sheet):
    truth = json.loads((dataset / sim_params.GROUND_TRUTH_FILE).read_text())
    bulk = _pseudobulk(dataset, sheet)
    bulk = bulk.loc[:, bulk.mean() > np.log1p(50.0)]  # well-measured genes only
    gsm = sheet.set_index(["condition", "day", "replicate"])["gsm"]
    day_var = bulk.loc[sheet.loc[sheet.condition == "Control", "gsm"]].var().mean()
    pairs = [(gsm["Control", d].iloc[0], gsm["Patient", d].iloc[0]) for d in (0, 16, 19)]
    geno_var = np.mean([((bulk.loc[c] - bulk.loc[p]) ** 2 / 2).mean() for c, p in pairs])
    assert day_var > 2 * geno_var  # same-day patient vs control: genotype, line and library together

    patient = {g["gene_id"] for g in truth["patient_effect_genes"]}
    control, patient_gsm = pairs[-1]  # day 19: early and late effects both present
    diff = (bulk.loc[patient_gsm] - bulk.loc[control]).abs()
    effect = diff.index.isin(patient)
    assert diff[effect].mean() > 1.5 * diff[~effect].mean()  # the other genes differ by line and library


def test_same_seed_same_bytes_in_any_order_other_seed_differs(tmp_path, dataset, sheet, tiny_size):
    subset = sheet.iloc[[5, 0]].reset_index(drop=True)  # two GSMs, reversed: streams are per GSM
    again = sim.simulate(tmp_path / "again", size=tiny_size, seed=42, sheet=subset)
    other = sim.simulate(tmp_path / "other", size=tiny_size, seed=43, sheet=subset)
    for row in subset.itertuples():
        for suffix in SUFFIXES:
            name = _stem(row) + suffix
            assert (again / name).read_bytes() == (dataset / name).read_bytes(), name
        name = _stem(row) + "matrix.mtx.gz"
        assert (other / name).read_bytes() != (dataset / name).read_bytes(), name


def test_existing_folder_is_reused_or_refused(tmp_path, dataset, sheet, tiny_size, caplog):
    before = {p.name: p.stat().st_mtime_ns for p in dataset.iterdir()}
    with caplog.at_level(logging.INFO, logger="lmna_scrna.sim.dataset"):
        assert sim.simulate(dataset, size=tiny_size, seed=42, sheet=sheet) == dataset
    assert "reused" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in dataset.iterdir()} == before

    with pytest.raises(InputError, match=re.escape(str(dataset))):
        sim.simulate(dataset, size=tiny_size, seed=7, sheet=sheet)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match=re.escape(str(other))):
        sim.simulate(other, size=tiny_size, sheet=sheet)
    assert (other / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_unknown_size_is_named():
    with pytest.raises(InputError, match="huge"):
        sim.simulate("unused", size="huge")


@pytest.mark.parametrize(("mean", "size"), [(0.02, 4.0), (0.7, 1.0), (3.0, 0.5), (40.0, 2.0)])
def test_negative_binomial_sampler_matches_the_distribution(mean, size):
    """The screened CDF inversion must give NB's zero fraction, mean and variance."""
    n = 200_000
    mu = np.full((n, 1), mean, dtype=np.float32)
    draws = sim_sampler.sample_negative_binomial(mu, np.array([size]), np.random.default_rng(0)).toarray().ravel()
    p_zero = (size / (size + mean)) ** size
    variance = mean + mean**2 / size
    assert abs(np.mean(draws == 0) - p_zero) < 5 * np.sqrt(p_zero * (1 - p_zero) / n)
    assert abs(draws.mean() - mean) < 5 * np.sqrt(variance / n)
    assert draws.var() == pytest.approx(variance, rel=0.05)


# --------------------------------------------------------------------------- calibration knobs


DAY9 = (("GSM8325049", "Control"), ("GSM8325050", "Control"), ("GSM8325055", "Patient"))


def _library_profiles(effects: sim_model.Effects, lines: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Each day-9 library's expected log-profile (before cell sampling) under `effects`."""
    design = sim_model.build_design(2000, seed=5)
    lines = lines or sim_model.default_lines(load_samples())
    out = {}
    for gsm, condition in DAY9:
        rng = sim_model._rng(5, 2, int(gsm[3:]))
        rng.normal()  # the depth draw comes first in simulate_library
        constant, _ = sim_model._line_effect(5, lines[gsm], design.loadings)
        out[gsm] = sim_model._library_log_profile(design, rng, condition, 9, 5, effects.line * constant, effects)
    return out


def test_effect_scale_zero_plants_no_genotype_effect_and_scales_the_rest() -> None:
    design = sim_model.build_design(2000, seed=5)
    planted = design.patient_log_fc != 0
    base = _library_profiles(sim_model.Effects())
    null = _library_profiles(sim_model.Effects(patient=0.0))
    half = _library_profiles(sim_model.Effects(patient=0.5))
    # Controls are untouched by the genotype knob; the patient differs from the default only on planted genes.
    np.testing.assert_array_equal(null["GSM8325049"], base["GSM8325049"])
    changed = np.flatnonzero(null["GSM8325055"] != base["GSM8325055"])
    assert changed.size and planted[changed].all()
    np.testing.assert_allclose(half["GSM8325055"] - null["GSM8325055"],
                               0.5 * (base["GSM8325055"] - null["GSM8325055"]), atol=1e-5)
    # Library knob 0: the two control libraries of one day share one expected profile exactly.
    no_library = _library_profiles(sim_model.Effects(library=0.0))
    np.testing.assert_array_equal(no_library["GSM8325049"], no_library["GSM8325050"])
    assert not np.array_equal(base["GSM8325049"], base["GSM8325050"])


def test_knobs_give_identical_bytes_per_seed_and_are_recorded(tmp_path, monkeypatch, sheet) -> None:
    monkeypatch.setitem(sim_params.SIM_SIZES, "knobs", sim_params.SimSize(n_cells=60, n_genes=1500, median_umis=3000.0))
    two = sheet[sheet["day"] == 9]
    runs = [sim.simulate(tmp_path / name, size="knobs", seed=3, sheet=two, effect_scale=scale, library_effect_scale=0.5)
            for name, scale in (("a", 0.0), ("b", 0.0), ("c", 1.0))]
    files = sorted(p.name for p in runs[0].iterdir())
    assert [(runs[0] / f).read_bytes() for f in files] == [(runs[1] / f).read_bytes() for f in files]
    truth = json.loads((runs[0] / sim_params.GROUND_TRUTH_FILE).read_text())
    assert truth["effect_scale"] == 0.0 and truth["library_effect_scale"] == 0.5
    assert all(g["log_fc"] == 0 for g in truth["patient_effect_genes"])
    patient = next(f for f in files if f.startswith("GSM8325055") and f.endswith("matrix.mtx.gz"))
    assert (runs[0] / patient).read_bytes() != (runs[2] / patient).read_bytes()
    with pytest.raises(InputError, match="effect_scale=-1"):
        sim.simulate(tmp_path / "bad", size="knobs", sheet=two, effect_scale=-1)


# --------------------------------------------------------------------------- lines


def test_default_lines_deal_the_sisters_libraries_by_day_and_keep_the_patient_line(sheet) -> None:
    lines = sim_model.default_lines(sheet)
    by_line = {line: sorted(int(sheet.set_index("gsm").loc[g, "day"]) for g in lines if lines[g] == line)
               for line in set(lines.values())}
    assert by_line == {"patient_iPSC": [0, 9, 16, 19], "sister_iPSC1": [0, 4, 16, 30], "sister_iPSC2": [2, 9, 9, 19]}
    assert sim_model.default_lines(sheet.iloc[[5, 0]]) == {g: lines[g] for g in sheet["gsm"].iloc[[5, 0]]}  # row by row


def test_line_knob_scales_one_signature_per_line_and_leaves_every_other_draw_alone() -> None:
    """Scale 0 is no line effect whatever the lines; scales 1 and 2 add one line signature, twice over."""
    swapped = {"GSM8325049": "sister_iPSC1", "GSM8325050": "patient_x", "GSM8325055": "sister_iPSC2"}
    none, none_swapped = _library_profiles(sim_model.Effects(line=0.0)), _library_profiles(sim_model.Effects(line=0.0), swapped)
    one, two = _library_profiles(sim_model.Effects(line=1.0)), _library_profiles(sim_model.Effects(line=2.0))
    for gsm, _ in DAY9:
        np.testing.assert_array_equal(none[gsm], none_swapped[gsm])
        np.testing.assert_allclose(two[gsm] - none[gsm], 2 * (one[gsm] - none[gsm]), atol=1e-5)
    line_part = {gsm: one[gsm] - none[gsm] for gsm, _ in DAY9}
    np.testing.assert_allclose(line_part["GSM8325049"], line_part["GSM8325050"], atol=1e-5)  # one line: one signature
    assert np.std(line_part["GSM8325049"]) == pytest.approx(sim_params.LINE_LOG_SD, rel=0.1)
    assert np.corrcoef(line_part["GSM8325049"], line_part["GSM8325055"])[0, 1] < 0.1


def _bulk(library: sim_model.Library, symbols: pd.Series) -> np.ndarray:
    """log1p CPM of the summed counts of cells passing the paper's QC (planted doublets would dominate)."""
    n_genes, pct_mt = _qc_metrics(library.counts, symbols)
    passing = (n_genes >= QC_MIN_GENES) & (n_genes <= QC_MAX_GENES) & (pct_mt <= QC_MAX_PCT_MT)
    total = np.asarray(library.counts[passing].sum(axis=0)).ravel()
    return np.log1p(1e6 * total / total.sum())


def test_a_line_effect_is_shared_by_the_lines_libraries_in_pseudobulk() -> None:
    """No genotype and no library effect, a large line effect: same line and day is near, other line far."""
    size = sim_params.SimSize(n_cells=150, n_genes=TINY.n_genes, median_umis=4000.0)  # doublets need the genes
    design = sim_model.build_design(size.n_genes, seed=7)
    symbols = pd.Series(design.symbols)
    lines = {"GSM8325049": "sister_iPSC2", "GSM8325050": "sister_iPSC2", "GSM8325055": "patient_iPSC"}

    def distances(line_scale: float) -> tuple[float, float]:
        effects = sim_model.Effects(patient=0.0, library=0.0, line=line_scale)
        bulk = {gsm: _bulk(sim_model.simulate_library(design, gsm, condition, 9, size, 7, effects, line=lines[gsm]), symbols)
                for gsm, condition in DAY9}
        expressed = np.minimum.reduce(list(bulk.values())) > np.log1p(100.0)
        same, other = (np.mean((bulk["GSM8325049"] - bulk[g])[expressed] ** 2) for g in ("GSM8325050", "GSM8325055"))
        return float(same), float(other)

    same, other = distances(3.0)
    assert other > 10 * same
    same0, other0 = distances(0.0)
    assert same0 == pytest.approx(same, rel=0.5) and other0 < 3 * same0  # without it, the patient line is no farther


def test_line_scale_and_assignment_are_recorded_validated_and_byte_stable(tmp_path, monkeypatch, sheet) -> None:
    monkeypatch.setitem(sim_params.SIM_SIZES, "lines", sim_params.SimSize(n_cells=60, n_genes=1500, median_umis=3000.0))
    two = sheet[sheet["day"] == 9]
    swapped = {"GSM8325049": "sister_iPSC1", "GSM8325050": "sister_iPSC1", "GSM8325055": "patient_iPSC"}
    runs = {name: sim.simulate(tmp_path / name, size="lines", seed=3, sheet=two, **kw) for name, kw in (
        ("zero", {"line_effect_scale": 0.0}), ("zero_swapped", {"line_effect_scale": 0.0, "lines": swapped}),
        ("default", {"line_effect_scale": 1.0}), ("swapped", {"line_effect_scale": 1.0, "lines": swapped}),
        ("double", {"line_effect_scale": 2.0}))}
    matrices = sorted(p.name for p in runs["zero"].iterdir() if p.name.endswith(".gz"))
    read = {name: [(folder / f).read_bytes() for f in matrices] for name, folder in runs.items()}
    assert read["zero"] == read["zero_swapped"]  # scale 0: the lines do not matter at all
    assert read["default"] != read["swapped"] != read["double"] != read["zero"]
    truth = json.loads((runs["swapped"] / sim_params.GROUND_TRUTH_FILE).read_text())
    assert truth["lines"] == swapped and truth["line_effect_scale"] == 1.0 and truth["line_log_sd"] == sim_params.LINE_LOG_SD
    assert truth["line_program_log_sd"] == sim_params.LINE_PROGRAM_LOG_SD
    default = json.loads((runs["default"] / sim_params.GROUND_TRUTH_FILE).read_text())
    assert default["lines"] == sim_model.default_lines(two)
    assert "lines" not in json.loads((runs["default"] / sim_params.MARKER_FILE).read_text())
    assert json.loads((runs["double"] / sim_params.MARKER_FILE).read_text())["line_effect_scale"] == 2.0

    for lines, message in (
        ({"GSM8325049": "sister_iPSC1"}, r"lines: GSM8325050: no line given; GSM8325055: no line given"),
        (swapped | {"GSM1": "x"}, r"lines: GSM1: not in the sheet"),
        (swapped | {"GSM8325055": "patient_iPSC2"}, r"GSM8325055: the sheet names line 'patient_iPSC', not 'patient_iPSC2'"),
        (swapped | {"GSM8325050": "unknown"}, r"GSM8325050: a simulated library needs a line, not 'unknown'"),
        (swapped | {"GSM8325050": "patient_iPSC"}, r"row 3 \(GSM8325055\): line 'patient_iPSC' is from donor 'patient' here but 'sister' on row 2"),
    ):
        with pytest.raises(InputError, match=message):
            sim.simulate(tmp_path / "bad", size="lines", sheet=two, lines=lines)
    with pytest.raises(InputError, match="line_effect_scale=-1"):
        sim.simulate(tmp_path / "bad", size="lines", sheet=two, line_effect_scale=-1)


def test_cli_line_effect_scale_is_validated(tmp_path, capsys) -> None:
    assert main(["simulate", "--out", str(tmp_path / "x"), "--line-effect-scale", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lmna-scrna simulate: error: --line-effect-scale=-1.0") and "\n" not in err  # the option as typed


def test_data_page_states_the_default_world_and_the_lines(sheet) -> None:
    """The data page's world and day lists must follow the fitted worlds file and the simulator's."""
    page = " ".join((PROJECT_ROOT / "book" / "data.md").read_text().split())
    assert f"**The default data are world {worlds.load_worlds()['default_world']}**" in page
    lines = sim_model.default_lines(sheet)
    days = {line: ", ".join(str(d) for d in sorted(set(sheet.loc[sheet["gsm"].map(lines) == line, "day"])))
            for line in ("sister_iPSC1", "sister_iPSC2")}
    assert f"days {days['sister_iPSC1']} on one line, days {days['sister_iPSC2']} on the other" in page


# --------------------------------------------------------------------------- seed and path checked first; a full disk is one line


def simulate_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(lmna_scrna.__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "lmna_scrna.cli", "simulate", *argv], env=env,
                          capture_output=True, text=True, timeout=120)


def test_negative_or_huge_seed_is_refused_naming_it(tmp_path, capsys):
    for seed in ("-1", str(2**70)):
        assert main(["simulate", "--out", str(tmp_path / "d"), "--seed", seed]) == 2
        assert f"seed={seed}: must be an integer" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_out_under_a_file_is_one_line(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["simulate", "--out", str(a_file / "data")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot write {a_file / 'data'}" in err[0]


def test_simulate_onto_a_full_disk_is_one_line_and_the_last_thing_shown(full_disk):
    done = simulate_cli("--out", str(full_disk / "data"), "--size", "smoke")

    assert done.returncode == 2, done.stderr[-2000:]
    shown = [line.rsplit("\r", 1)[-1] for line in done.stderr.splitlines()]  # a terminal shows a bar's last state
    assert shown[-1].startswith(f"lmna-scrna simulate: error: cannot write simulated data to {full_disk / 'data'}")
    assert "No space left on device" in shown[-1] and "Traceback" not in done.stderr
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_simulated_folder_has_normal_permissions_and_no_litter(tmp_path, dead_pid, monkeypatch, sheet):
    monkeypatch.setitem(sim_params.SIM_SIZES, "tiny", sim_params.SimSize(n_cells=60, n_genes=8000, median_umis=4000.0))
    sheet = sheet.head(2)
    stale = tmp_path / f".data.{_host()}-{dead_pid}.abc_123x.part"
    stale.mkdir()
    previous = os.umask(0o022)
    try:
        out = sim.simulate(tmp_path / "data", size="tiny", sheet=sheet)
    finally:
        os.umask(previous)

    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize(("option", "value"), [("--line-effect-scale", "1e6"), ("--library-effect-scale", "1e3"),
                                               ("--effect-scale", "50"), ("--line-effect-scale", "8.5")])
def test_scales_that_empty_the_libraries_are_refused_naming_the_option(tmp_path, capsys, option, value):
    """1e6 and 1e3 used to write libraries of one gene per cell (500 nonzeros where 800k are normal), exit 0."""
    out = tmp_path / "sim"
    assert main(["simulate", "--out", str(out), "--size", "smoke", option, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lmna-scrna simulate: error: {option}={float(value)!r}: must be a number in "
                   f"[0, {sim.MAX_EFFECT_SCALE:g}] (1 = the default effect, 0 = none; larger scales leave "
                   "libraries near-empty)"]
    assert not out.exists()


def test_the_largest_scales_still_give_full_libraries_that_inspect_accepts() -> None:
    """All three scales at their maximum: every planted doublet still reaches its genes, and the library
    is far from the near-empty one `inspect` flags."""
    size = sim_params.SIM_SIZES["smoke"]
    design = sim_model.build_design(size.n_genes, 42)
    top = sim.MAX_EFFECT_SCALE
    effects = sim_model.Effects(patient=top, library=top, line=top)
    library = sim_model.simulate_library(design, "GSM8325057", "Patient", 19, size, 42, effects, line="x")
    genes = np.diff(library.counts.indptr)
    assert np.median(genes) > 0.3 * np.median(np.diff(sim_model.simulate_library(
        design, "GSM8325057", "Patient", 19, size, 42, line="x").counts.indptr))
    assert (genes > 6000).sum() >= library.truth["qc_failures_planted"]["doublet"] // 2
    assert near_empty(library.counts, "filtered") is None


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_out_on_or_under_a_file_says_it_is_a_file(tmp_path, capsys, where):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    out = a_file if where == "file" else a_file / "sim"
    assert main(["simulate", "--out", str(out), "--size", "smoke"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{a_file} is a file, not a folder" in err and "File exists" not in err, err
    assert a_file.read_text() == "keep"
