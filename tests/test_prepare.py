"""`prepare` (pp/assemble.py and `lmna-scrna prepare`): the parameters and inputs it refuses, naming them,
where it writes, what a finished run leaves, and the assembly of the processed matrix. What it computes,
against scanpy, is test_preprocess.py's; its cache is test_gsm_cache.py's, its signals test_prepare_signals.py's."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from _cli_fixtures import error_lines, one_error_line, prepare_cli, small_args, study  # noqa: F401 (study: a fixture)
from _tenx_fixtures import SMALL_PARAMS, rewrite_gz, write_study

import lmna_scrna
from lmna_scrna import cli
from lmna_scrna.errors import InputError
from lmna_scrna.io.digests import SETTLE_SECONDS
from lmna_scrna.pp.assemble import load_processed, prepare_split
from lmna_scrna.pp.splits import make_split


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process: a crash (a segfault is exit 139) cannot take pytest down with it."""
    env = {**os.environ, "PYTHONPATH": str(Path(lmna_scrna.__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "lmna_scrna.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=120)


# --------------------------------------------------------------------------- parameters and inputs it refuses


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
    assert f"--{name.replace('_', '-')}=" in one_error_line(capsys)  # the option as typed, not PrepParams.<field>
    assert not out.exists()


def test_no_gene_selectable_is_an_error_naming_the_parameter(study, sheet, tmp_path):
    out = tmp_path / "x.h5ad"
    params = replace(SMALL_PARAMS, min_cells_per_gene=100_000)
    with pytest.raises(InputError, match="PrepParams.min_cells_per_gene=100000"):
        prepare_split(study, make_split("original", sheet), sheet, params, out, cache_dir=tmp_path / "c")
    assert not out.exists()


def test_too_few_train_cells_blame_max_cells(study, sheet, tmp_path):
    params = replace(SMALL_PARAMS, max_cells=1, min_cells_per_gene=10)  # the paper's 10, with 8 train GSMs
    with pytest.raises(InputError, match=r"8 train cells, fewer than PrepParams\.min_cells_per_gene=10.*max_cells"):
        prepare_split(study, make_split("original", sheet), sheet, params, tmp_path / "x.h5ad", tmp_path / "c")


def test_gsm_with_another_gene_list_is_named_against_the_majority(tmp_path, sheet):
    raw = tmp_path / "raw"
    write_study(raw, sheet, n_cells=40)
    odd = "GSM8325052"  # not the second GSM of the split: the old message named the second one
    features = next(raw.glob(f"{odd}_*features.tsv.gz"))
    rewrite_gz(features, lambda lines: [lines[0].replace("ENSG", "ENSX", 1), *lines[1:]])
    with pytest.raises(InputError, match=rf"^{odd}: gene list differs from that of GSM8325046, GSM8325047"):
        prepare_split(raw, make_split("original", sheet), sheet, SMALL_PARAMS, tmp_path / "x.h5ad", tmp_path / "c")


@pytest.mark.parametrize("scheme", ["original", "random_cells"])
def test_test_day_with_a_split_without_days_is_an_error(study, tmp_path, capsys, scheme):
    out = tmp_path / "x.h5ad"
    assert cli.main(prepare_cli(study, out, "--test-day", "9", *small_args(), scheme=scheme)) == 2
    assert f"--scheme {scheme} takes no --test-day" in one_error_line(capsys)
    assert not out.exists()


def test_old_split_option_still_works_and_names_its_replacement(study, tmp_path, capsys):
    out = tmp_path / "x.h5ad"
    argv = [a if a != "--scheme" else "--split" for a in prepare_cli(study, out, *small_args())]
    assert cli.main(argv) == 0 and out.is_file()
    assert "--split is deprecated, use --scheme" in capsys.readouterr().err


def test_valid_parameters_still_prepare(study, tmp_path):
    out = tmp_path / "ok.h5ad"
    assert cli.main(prepare_cli(study, out, *small_args())) == 0
    assert np.isfinite(ad.read_h5ad(out).X.data).all()


# --------------------------------------------------------------------------- where it writes and what it reads back


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


def test_finished_prepare_leaves_only_cache_files(tmp_path, sheet):
    raw, cache = tmp_path / "raw", tmp_path / "cache"
    write_study(raw, sheet.head(4), n_cells=30)
    prepare_split(raw, make_split("random_cells", sheet.head(4)), sheet.head(4), SMALL_PARAMS, tmp_path / "x.h5ad",
                  cache_dir=cache)

    assert sorted(p.suffix for p in cache.iterdir()) == [".h5"] * 4  # no .lock beside them


def test_written_split_reads_back_as_the_split_assembled_in_memory(study, sheet, tmp_path):
    from lmna_scrna.pp.assemble import assemble_split, fit_split, processed_data

    split = make_split("day_matched", sheet, 19, 0)
    fit = fit_split(study, split, sheet, SMALL_PARAMS, cache_dir=tmp_path / "c")
    written = load_processed(prepare_split(study, split, sheet, SMALL_PARAMS, tmp_path / "a.h5ad",
                                           cache_dir=tmp_path / "c"))
    in_memory = processed_data(assemble_split(fit), tmp_path / "a.h5ad")

    np.testing.assert_array_equal(written.X, in_memory.X)
    assert written.X.dtype == in_memory.X.dtype == np.float32
    assert written.obs.equals(in_memory.obs) and written.genes.equals(in_memory.genes)
    assert written.fingerprint == in_memory.fingerprint and written.split.keys() == in_memory.split.keys()
    assert all(np.array_equal(written.split[k], in_memory.split[k]) for k in written.split)


def test_fingerprint_covers_the_sheets_labels(study, sheet, tmp_path):
    split = make_split("original", sheet)
    first = prepare_split(study, split, sheet, SMALL_PARAMS, tmp_path / "a.h5ad", cache_dir=tmp_path / "c")
    relabelled = sheet.copy()
    relabelled.loc[relabelled["gsm"] == "GSM8325046", "replicate"] = "B"  # same files, same cache, other obs
    second = prepare_split(study, split, relabelled, SMALL_PARAMS, tmp_path / "b.h5ad", cache_dir=tmp_path / "c")

    assert load_processed(first).fingerprint != load_processed(second).fingerprint


# --------------------------------------------------------------------------- assembly


def test_rows_stacked_from_a_generator_into_preallocated_arrays_equal_vstack():
    from scipy import sparse as sp

    from lmna_scrna.pp.row_blocks import stack_rows

    rng = np.random.default_rng(0)
    blocks = [sp.random(n, 7, density=0.3, format="csr", dtype=np.float32, random_state=rng) for n in (5, 0, 9)]
    blocks[2].data[:2] = 0  # stored zeros (float underflow): more entries than the nonzero count says
    nnz = sum(int((b.data != 0).sum()) for b in blocks)

    stacked = stack_rows(iter(blocks), n_rows=14, nnz=nnz, width=7)

    expected = sp.vstack(blocks, format="csr")
    assert stacked.shape == expected.shape and stacked.nnz == expected.nnz
    assert np.array_equal(stacked.indptr, expected.indptr) and np.array_equal(stacked.indices, expected.indices)
    assert np.array_equal(stacked.data, expected.data)


@pytest.mark.parametrize("nnz_estimate", ["exact", "short"])
def test_rows_written_block_by_block_read_back_as_the_stacked_matrix(tmp_path, nnz_estimate):
    import h5py
    from anndata.io import read_elem
    from scipy import sparse as sp

    from lmna_scrna.pp.row_blocks import stack_rows, write_rows

    rng = np.random.default_rng(1)
    blocks = [sp.random(n, 7, density=0.4, format="csr", dtype=np.float32, random_state=rng) for n in (6, 0, 11)]
    blocks[2].data[:3] = 0  # stored zeros: with the nonzero count as estimate the arrays must grow
    nnz = sum(b.nnz for b in blocks) if nnz_estimate == "exact" else sum(int((b.data != 0).sum()) for b in blocks)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        write_rows(f, "X", iter(blocks), n_rows=17, nnz=nnz, width=7)
    with h5py.File(tmp_path / "x.h5", "r") as f:
        written = read_elem(f["X"])

    expected = stack_rows(iter(blocks), n_rows=17, nnz=nnz, width=7)
    assert isinstance(written, sp.csr_matrix) and written.shape == (17, 7)
    for name in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(written, name), getattr(expected, name)), name
        assert getattr(written, name).dtype == getattr(expected, name).dtype, name


def test_a_split_that_will_not_fit_is_refused_before_anything_is_written(study, sheet, tmp_path, monkeypatch):
    import shutil

    from lmna_scrna import atomic

    out = tmp_path / "out" / "x.h5ad"
    real = shutil.disk_usage
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: real(p)._replace(free=2**20))  # 1 MiB free
    with pytest.raises(InputError, match=r"cannot write .*x\.h5ad: No space left on device for it: about \d+ MiB "
                                         r"needed, 1 MiB free in"):
        prepare_split(study, make_split("original", sheet), sheet, SMALL_PARAMS, out, cache_dir=tmp_path / "c")
    assert list(out.parent.iterdir()) == []  # no file, no temp file


def test_the_space_asked_for_covers_the_file_written(study, sheet, tmp_path):
    from lmna_scrna.pp.assemble import _file_bytes, _x_size, fit_split, write_split

    fit = fit_split(study, make_split("random_cells", sheet), sheet, SMALL_PARAMS, cache_dir=tmp_path / "c")
    n_rows, nnz, _ = _x_size(fit)
    written = write_split(fit, tmp_path / "x.h5ad").stat().st_size
    assert written <= _file_bytes(n_rows, nnz) <= written + (9 << 20)


def test_prepare_with_no_byte_free_leaves_no_lock_file(study, no_space, tmp_path):
    """The cache locks' PID write was the first to fail, with a traceback, leaving one `.lock` per GSM."""
    cache = no_space / "c"
    done = run_cli(*prepare_cli(study, tmp_path / "x.h5ad", *small_args(), cache=cache))

    assert done.returncode == 2, done.stderr[-2000:]
    last = error_lines(done.stderr)[-1]
    assert last.startswith(f"lmna-scrna prepare: error: cannot write {cache}/") and "No space left" in last, last
    assert "Traceback" not in done.stderr
    assert not list(no_space.rglob("*.lock")) and not (tmp_path / "x.h5ad").exists()


def test_same_size_in_place_edit_of_a_raw_file_is_seen_with_the_same_cache(sheet, tmp_path, monkeypatch):
    """A GSM's plain .mtx of over 2 MiB changed in its middle (same size, mtime put back): the fingerprint used to
    hash only the first and last MiB, so `prepare` with the same cache returned the old matrix."""
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))  # the digest memo lives there
    raw, cache = tmp_path / "raw", tmp_path / "c"
    write_study(raw, sheet, n_cells=40)
    gsm = make_split("original", sheet).gsms[0]
    write_study(tmp_path / "big", sheet[sheet["gsm"] == gsm], n_cells=2500)  # ~3.6 MB as plain text
    for small, big in zip(sorted(raw.glob(f"{gsm}_*")), sorted((tmp_path / "big").iterdir())):
        os.replace(big, small)
    packed = next(raw.glob(f"{gsm}_*matrix.mtx.gz"))
    matrix = packed.with_suffix("")
    matrix.write_bytes(gzip.decompress(packed.read_bytes()))
    packed.unlink()
    assert matrix.stat().st_size > 3 * 2**20
    time.sleep(SETTLE_SECONDS + 0.1)  # old enough for its digest to be remembered, as a file on disk for long is
    assert cli.main(prepare_cli(raw, tmp_path / "before.h5ad", *small_args(), cache=cache)) == 0

    text = bytearray(matrix.read_bytes())
    times = matrix.stat()
    start = len(text) // 2 - 100_000
    window = text[start : start + 200_000]
    edited = window.replace(b" 1\n", b" 2\n")  # every count of 1 in the middle 200 kB becomes 2
    assert edited != window and len(edited) == len(window)
    with matrix.open("r+b") as fh:
        fh.seek(start)
        fh.write(edited)
    os.utime(matrix, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert cli.main(prepare_cli(raw, tmp_path / "after.h5ad", *small_args(), cache=cache)) == 0

    before, after = ad.read_h5ad(tmp_path / "before.h5ad"), ad.read_h5ad(tmp_path / "after.h5ad")
    assert before.uns["input_fingerprints"][gsm] != after.uns["input_fingerprints"][gsm]
    rows = (before.obs["gsm"] == gsm).to_numpy()
    assert not np.array_equal(_dense(before.X[rows]), _dense(after.X[rows]))  # the new counts, not the cached ones
    assert len(list(cache.glob(f"{gsm}-*.h5"))) == 2  # parsed again, beside the old version's entry


def _dense(X: object) -> np.ndarray:
    return X.toarray() if hasattr(X, "toarray") else np.asarray(X)


def test_option_errors_name_the_option_as_typed(study, tmp_path, capsys):
    """`--min-genes 100000` was blamed on max_genes, and every message named `PrepParams.<field>`."""
    out = tmp_path / "x.h5ad"
    assert cli.main(prepare_cli(study, out, "--min-genes", "100000")) == 2
    assert one_error_line(capsys) == "lmna-scrna prepare: error: --min-genes=100000: must be <= --max-genes (6000)"
    assert cli.main(prepare_cli(study, out, "--max-genes", "10")) == 2
    assert one_error_line(capsys) == "lmna-scrna prepare: error: --min-genes=200: must be <= --max-genes (10)"
    assert not out.exists()


def test_out_that_is_not_h5ad_is_refused(study, tmp_path, capsys):
    """It wrote HDF5 bytes into `x.csv`."""
    out = tmp_path / "x.csv"
    assert cli.main(prepare_cli(study, out, *small_args())) == 2
    assert one_error_line(capsys) == (f"lmna-scrna prepare: error: --out {out}: must end in .h5ad "
                                      "(prepare writes an AnnData HDF5 file)")
    assert not out.exists() and not (tmp_path / "c").exists()


def test_a_gsm_the_sheet_does_not_list_is_refused_as_inspect_reports_it(study, tmp_path, capsys, monkeypatch):
    """`prepare` and `report` used to leave it out of every split without a word, while `inspect` calls it a
    problem; both now refuse it with inspect's sentence, before any work."""
    raw = tmp_path / "raw"
    shutil.copytree(study, raw)
    stranger = raw / "GSM9999999_extra_filtered_matrix.mtx.gz"
    stranger.write_bytes(b"")
    said = f"GSM9999999 is not in the sample sheet: {stranger.name} in "
    assert cli.main(prepare_cli(raw, tmp_path / "x.h5ad", *small_args())) == 2
    line = one_error_line(capsys)
    assert said in line and line.endswith("add it to the sample sheet (--sheet) or move its files out of the folder")
    assert not (tmp_path / "x.h5ad").exists() and not (tmp_path / "c").exists()

    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    assert cli.main(["report", "--profile", "smoke", "--data", str(raw), "--no-book"]) == 2
    assert said in one_error_line(capsys)
    assert not (tmp_path / "outputs" / "notebooks").exists()
