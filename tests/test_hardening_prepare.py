"""Hardening of the sheet, readers, cache and prepare (issue #11): each test fails without its fix."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from _tenx_fixtures import SMALL_PARAMS, rewrite_gz, write_study

import lmna_scrna
from lmna_scrna import cli
from lmna_scrna.errors import InputError
from lmna_scrna.io.study import load_samples
from lmna_scrna.pp.assemble import load_processed, prepare_split
from lmna_scrna.pp.gsm_pass import CachedGSM, cache_file
from lmna_scrna.pp.splits import make_split
from lmna_scrna.report.plan import load_profile


@pytest.fixture(scope="module")
def study(tmp_path_factory, sheet) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    write_study(raw, sheet, n_cells=40)
    return raw


def small_args(**changes: object) -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in replace(SMALL_PARAMS, **changes).to_dict().items()]


def prepare_cli(raw: Path, out: Path, *extra: str, split: str = "original", cache: Path | None = None) -> list[str]:
    cache = cache or out.parent / "c"
    return ["prepare", "--raw", str(raw), "--split", split, "--out", str(out), "--cache", str(cache), *extra]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The CLI's error line, the only stderr line not drawn by a progress bar or a log record."""
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lmna-scrna")]
    assert len(err) == 1, err
    return err[0]


# --- item 4: preprocessing parameters ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [("target_sum", "nan"), ("target_sum", "inf"), ("n_hvg", "0"), ("clip", "0"), ("clip", "-1"),
     ("clip", "nan"), ("max_cells", "-5"), ("max_pct_mt", "nan"), ("min_genes", "-1"), ("seed", "-1"),
     ("seed", str(2**70))],
)
def test_bad_prep_parameter_is_one_line_naming_it(study, tmp_path, capsys, name, value):
    out = tmp_path / "x.h5ad"
    argv = prepare_cli(study, out, *small_args(), f"--{name.replace('_', '-')}={value}")

    assert cli.main(argv) == 2
    assert f"PrepParams.{name}=" in one_error_line(capsys)
    assert not out.exists()


def test_no_gene_selectable_is_an_error_naming_the_parameter(study, sheet, tmp_path):
    out = tmp_path / "x.h5ad"
    params = replace(SMALL_PARAMS, min_cells_per_gene=100_000)
    with pytest.raises(InputError, match="PrepParams.min_cells_per_gene=100000"):
        prepare_split(study, make_split("original", sheet), sheet, params, out, cache_dir=tmp_path / "c")
    assert not out.exists()


def test_nan_learning_rate_is_refused():
    from lmna_scrna.config import TrainConfig
    from lmna_scrna.tl.models import check_config

    with pytest.raises(InputError, match="TrainConfig.lr=nan"):
        check_config(TrainConfig(lr=float("nan")))
    with pytest.raises(InputError, match="TrainConfig.loss_w_day=nan"):
        check_config(TrainConfig(loss_w_day=float("nan")))


# --- item 5: one line instead of tracebacks ------------------------------------------------


def test_out_that_is_a_folder_or_under_a_file_is_one_line(study, tmp_path, capsys):
    folder = tmp_path / "folder.h5ad"
    folder.mkdir()
    assert cli.main(prepare_cli(study, folder, *small_args())) == 2
    assert f"cannot write {folder}: it is a folder" in one_error_line(capsys)

    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert cli.main(prepare_cli(study, a_file / "x.h5ad", *small_args(), cache=tmp_path / "c")) == 2
    assert str(a_file / "x.h5ad") in one_error_line(capsys)

    assert cli.main(prepare_cli(study, tmp_path / "y.h5ad", *small_args(), cache=a_file / "c")) == 2
    assert f"cache folder {a_file / 'c'}" in one_error_line(capsys)


def test_processed_file_that_is_not_hdf5_is_named(tmp_path):
    bad = tmp_path / "bad.h5ad"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match="bad.h5ad is not a readable .h5ad") as err:
        load_processed(bad)
    assert "\n" not in str(err.value)


def test_profile_not_utf8_or_bad_yaml_is_one_line(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("data: d\u00e9j\u00e0\n".encode("latin-1"))
    with pytest.raises(InputError, match="latin.yaml is not UTF-8") as err:
        load_profile(latin)
    assert "\n" not in str(err.value)

    broken = tmp_path / "broken.yaml"
    broken.write_text("executions: [\n  - id: a\n  notebook: b\n")
    with pytest.raises(InputError, match="broken.yaml is not valid YAML") as err:
        load_profile(broken)
    assert "\n" not in str(err.value)


# --- item 7: damaged cache files -------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_damaged_cache_file_is_parsed_again(study, sheet, tmp_path, damage):
    split = make_split("original", sheet)
    first = tmp_path / "first.h5ad"
    prepare_split(study, split, sheet, SMALL_PARAMS, first, cache_dir=tmp_path / "c")
    path, _ = cache_file(study, "GSM8325046", SMALL_PARAMS, tmp_path / "c")
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size // 2 if damage == "truncate" else 0)

    again = tmp_path / "again.h5ad"
    prepare_split(study, split, sheet, SMALL_PARAMS, again, cache_dir=tmp_path / "c")

    a, b = ad.read_h5ad(first), ad.read_h5ad(again)
    assert (a.X != b.X).nnz == 0 and a.obs.equals(b.obs) and a.var.equals(b.var)
    assert path.stat().st_size == size


def test_cache_damaged_after_opening_names_the_file(tmp_path):
    path = tmp_path / "GSM1-x.h5"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=f"GSM1: cache file {path} is damaged"):
        CachedGSM("GSM1", path, "fp").load_X()


# --- item 8: sheet and reader gaps -----------------------------------------------------------


SHEET_HEADER = "gsm,condition,day,replicate,donor,line\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "has a header but no rows"),
        ("GSM1,Control,0,A,d,unknown\nSRR5,Control,0,A,d,unknown\n", r"row 2: gsm 'SRR5' is not a GEO sample accession"),
        ("GSM1,Control,0,A,d,unknown\nGSM12x,Control,0,A,d,unknown\n", r"row 2: gsm 'GSM12x'"),
        ("GSM1,Control,0,A,d,unknown\nGSM2,Control,0,,d,unknown\n", r"row 2 \(GSM2\): empty replicate"),
    ],
    ids=["no-rows", "not-gsm", "gsm-suffix", "empty-replicate"],
)
def test_bad_sheet_is_named(tmp_path, body, message):
    path = tmp_path / "samples.csv"
    path.write_text(SHEET_HEADER + body)
    with pytest.raises(InputError, match=message) as err:
        load_samples(path)
    assert str(path) in str(err.value)


def test_gsm_with_another_gene_list_is_named_against_the_majority(tmp_path, sheet):
    raw = tmp_path / "raw"
    write_study(raw, sheet, n_cells=40)
    odd = "GSM8325052"  # not the second GSM of the split: the old message named the second one
    features = next(raw.glob(f"{odd}_*features.tsv.gz"))
    rewrite_gz(features, lambda lines: [lines[0].replace("ENSG", "ENSX", 1), *lines[1:]])
    with pytest.raises(InputError, match=rf"^{odd}: gene list differs from that of GSM8325046, GSM8325047"):
        prepare_split(raw, make_split("original", sheet), sheet, SMALL_PARAMS, tmp_path / "x.h5ad", tmp_path / "c")


# --- item 9: days with a split that takes none -----------------------------------------------


@pytest.mark.parametrize("split", ["original", "random_cells"])
def test_test_day_with_a_split_without_days_is_an_error(study, tmp_path, capsys, split):
    out = tmp_path / "x.h5ad"
    assert cli.main(prepare_cli(study, out, "--test-day", "9", *small_args(), split=split)) == 2
    assert "takes no --test-day" in one_error_line(capsys)
    assert not out.exists()


def test_valid_parameters_still_prepare(study, tmp_path):
    out = tmp_path / "ok.h5ad"
    assert cli.main(prepare_cli(study, out, *small_args())) == 0
    assert np.isfinite(ad.read_h5ad(out).X.data).all()


# --- item 10: prepare nearer the floor ---------------------------------------------------------


def test_rows_stacked_from_a_generator_into_preallocated_arrays_equal_vstack():
    from scipy import sparse as sp

    from lmna_scrna.pp.assemble import _stack_rows

    rng = np.random.default_rng(0)
    blocks = [sp.random(n, 7, density=0.3, format="csr", dtype=np.float32, random_state=rng) for n in (5, 0, 9)]
    blocks[2].data[:2] = 0  # stored zeros (float underflow): more entries than the nonzero count says
    nnz = sum(int((b.data != 0).sum()) for b in blocks)

    stacked = _stack_rows(iter(blocks), n_rows=14, nnz=nnz, width=7)

    expected = sp.vstack(blocks, format="csr")
    assert stacked.shape == expected.shape and stacked.nnz == expected.nnz
    assert np.array_equal(stacked.indptr, expected.indptr) and np.array_equal(stacked.indices, expected.indices)
    assert np.array_equal(stacked.data, expected.data)


def test_full_disk_while_writing_is_one_line_and_keeps_the_old_result(tmp_path):
    from lmna_scrna.atomic import atomic_path

    target = tmp_path / "result.h5ad"
    target.write_text("old")
    with pytest.raises(InputError, match=r"cannot write .*result\.h5ad: \[Errno 28\]") as err:
        with atomic_path(target), open("/dev/full", "wb") as full:  # the kernel answers ENOSPC, as a full disk does
            full.write(b"x" * 10)
            full.flush()
    assert "\n" not in str(err.value)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["result.h5ad"]


# --- issue 15 ----------------------------------------------------------------------------------------


def error_lines(err: str) -> list[str]:
    """What a terminal shows at the end: every \\r-redrawn progress bar reduced to its last state."""
    return [line.rsplit("\r", 1)[-1] for line in err.splitlines() if line.rsplit("\r", 1)[-1].strip()]


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process: a crash (a segfault is exit 139) cannot take pytest down with it."""
    env = {**os.environ, "PYTHONPATH": str(Path(lmna_scrna.__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "lmna_scrna.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("where", ["out", "cache"])
def test_prepare_onto_a_full_disk_is_one_line_exit_2_no_segfault(study, full_disk, tmp_path, where):
    out = full_disk / "x.h5ad" if where == "out" else tmp_path / "x.h5ad"
    cache = full_disk / "c" if where == "cache" else tmp_path / "c"
    done = run_cli(*prepare_cli(study, out, *small_args(), cache=cache))

    assert done.returncode == 2, done.stderr[-2000:]
    last = error_lines(done.stderr)
    assert last[-1].startswith("lmna-scrna prepare: error: cannot write") and "No space left" in last[-1]
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in full_disk.iterdir()) == (["filler"] if where == "out" else ["c", "filler"])


@pytest.mark.parametrize(
    ("option", "value"),
    [("lr", "inf"), ("momentum", "nan"), ("momentum", "-1"), ("loss-w-day", "inf"), ("dropout", "nan")],
)
def test_bad_training_number_is_refused_naming_it(option, value):
    from lmna_scrna.config import TrainConfig

    with pytest.raises(InputError, match=rf"TrainConfig\.{option.replace('-', '_')}={value}"):
        TrainConfig(**{option.replace("-", "_"): float(value)}).check()


@pytest.mark.parametrize(
    ("seeds", "message"),
    [(["-1"], "seeds=-1"), ([str(2**70)], f"seeds={2**70}"), (["1", "1"], "1 given more than once")],
    ids=["negative", "2**70", "twice"],
)
def test_bad_seeds_are_refused_before_loading_the_data(tmp_path, capsys, seeds, message):
    missing = tmp_path / "no_such.h5ad"  # never read: the seeds are checked first
    assert cli.main(["train", "--data", str(missing), "--run", "r", "--seeds", *seeds]) == 2
    assert message in one_error_line(capsys)


def test_cli_train_refuses_an_infinite_learning_rate_before_loading(tmp_path, capsys):
    assert cli.main(["train", "--data", str(tmp_path / "no_such.h5ad"), "--run", "r", "--lr", "inf"]) == 2
    assert "TrainConfig.lr=inf" in one_error_line(capsys)


def test_fingerprint_covers_the_sheets_labels(study, sheet, tmp_path):
    split = make_split("original", sheet)
    first = prepare_split(study, split, sheet, SMALL_PARAMS, tmp_path / "a.h5ad", cache_dir=tmp_path / "c")
    relabelled = sheet.copy()
    relabelled.loc[relabelled["gsm"] == "GSM8325046", "replicate"] = "B"  # same files, same cache, other obs
    second = prepare_split(study, split, relabelled, SMALL_PARAMS, tmp_path / "b.h5ad", cache_dir=tmp_path / "c")

    assert load_processed(first).fingerprint != load_processed(second).fingerprint


def test_altered_cache_is_an_error_naming_it_and_no_bar_follows_the_error(study, tmp_path, capsys):
    import h5py

    out, cache = tmp_path / "a.h5ad", tmp_path / "c"
    assert cli.main(prepare_cli(study, out, *small_args(), cache=cache)) == 0
    path, _ = cache_file(study, "GSM8325047", SMALL_PARAMS, cache)
    with h5py.File(path, "r+") as f:  # valid HDF5, every dataset present: only a value differs
        f["data"][0] = f["data"][0] + 1
    capsys.readouterr()

    assert cli.main(prepare_cli(study, tmp_path / "b.h5ad", *small_args(), cache=cache)) == 2
    last = error_lines(capsys.readouterr().err)[-1]  # the error line is the last thing shown
    assert last.startswith(f"lmna-scrna prepare: error: GSM8325047: cache file {path} was altered")


def test_too_few_train_cells_blame_max_cells(study, sheet, tmp_path):
    params = replace(SMALL_PARAMS, max_cells=1, min_cells_per_gene=10)  # the paper's 10, with 8 train GSMs
    with pytest.raises(InputError, match=r"8 train cells, fewer than PrepParams\.min_cells_per_gene=10.*max_cells"):
        prepare_split(study, make_split("original", sheet), sheet, params, tmp_path / "x.h5ad", tmp_path / "c")
