"""Finding a GSM's 10x files (io/layouts.py): GEO's flat files and real Cell Ranger output as it comes.

The layouts are built from `_tenx_fixtures` writers and moved where Cell Ranger
puts them; read through `read_gsm`, whose reading of the content test_tenx.py covers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _tenx_fixtures import Written, assert_same_counts

from lmna_scrna.errors import InputError
from lmna_scrna.io.layouts import find_gsm_files
from lmna_scrna.io.tenx import read_gsm

GSM = "GSM1000001"


def cellranger_outs(root: Path, write_10x, seed: int = 0) -> tuple[Path, Written]:
    """An untouched Cell Ranger >= 3 ``outs/``: the .h5 and the matrix folder of the same library."""
    w = write_10x(root / "tmp", GSM, layout="cellranger", seed=seed, n_antibody=2)
    outs = root / GSM / "outs"
    outs.mkdir(parents=True)
    shutil.move(w.paths[0].parent, outs / "filtered_feature_bc_matrix")
    h5 = write_10x(root / "tmp", GSM, layout="h5", seed=seed, n_antibody=2).paths[0]
    shutil.move(h5, outs / "filtered_feature_bc_matrix.h5")
    shutil.rmtree(root / "tmp")
    return outs, w


def test_untouched_cellranger_outs_folder_reads_its_h5(tmp_path, write_10x):
    outs, written = cellranger_outs(tmp_path, write_10x)
    counts = read_gsm(tmp_path, GSM)
    assert counts.files == (outs / "filtered_feature_bc_matrix.h5",)
    assert_same_counts(counts, written)


@pytest.mark.parametrize("form", ["folder", "h5"])
def test_cellranger_multi_per_sample_outs(tmp_path, write_10x, form):
    count = tmp_path / GSM / "outs" / "per_sample_outs" / "sample1" / "count"
    count.mkdir(parents=True)
    if form == "h5":
        w = write_10x(tmp_path / "tmp", GSM, layout="h5")
        target = count / "sample_filtered_feature_bc_matrix.h5"
    else:
        w = write_10x(tmp_path / "tmp", GSM, layout="cellranger")
        target = count / "sample_filtered_feature_bc_matrix"
    shutil.move(w.paths[0] if form == "h5" else w.paths[0].parent, target)
    shutil.rmtree(tmp_path / "tmp")

    counts = read_gsm(tmp_path, GSM)
    assert all(count in p.parents for p in counts.files)
    assert_same_counts(counts, w)


def test_three_files_directly_in_the_gsm_folder(tmp_path, write_10x):
    w = write_10x(tmp_path / "tmp", GSM, layout="cellranger")
    shutil.move(w.paths[0].parent, tmp_path / GSM)
    shutil.rmtree(tmp_path / "tmp")
    assert_same_counts(read_gsm(tmp_path, GSM), w)
    with pytest.raises(InputError, match="no raw 10x files"):
        read_gsm(tmp_path, GSM, matrix_kind="raw")


def test_no_set_found_lists_the_10x_looking_files_and_why(tmp_path, write_10x):
    raw = write_10x(tmp_path, GSM, layout="flat", matrix_kind="raw")
    stray = tmp_path / GSM / "odd" / "matrix.mtx.gz"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"")
    with pytest.raises(InputError) as err:
        read_gsm(tmp_path, GSM)
    message = str(err.value)
    assert f"{raw.paths[0].name} (another kind of matrix)" in message
    assert f"{GSM}/odd/matrix.mtx.gz (not in a known layout)" in message


# ----------------------------------------------------------------- which set, and when none or several


def test_kind_selects_raw_or_filtered_files(tmp_path, write_10x):
    filtered = write_10x(tmp_path, GSM, matrix_kind="filtered", n_cells=10, seed=1)
    raw = write_10x(tmp_path, GSM, matrix_kind="raw", n_cells=30, seed=2)
    assert_same_counts(read_gsm(tmp_path, GSM, matrix_kind="filtered"), filtered)
    assert_same_counts(read_gsm(tmp_path, GSM, matrix_kind="raw"), raw)


def test_accession_is_matched_whole_with_any_middle(tmp_path, write_10x):
    short = write_10x(tmp_path, "GSM100", middle="Control_day0A", seed=1)
    long = write_10x(tmp_path, "GSM1000", middle="Patient_day9B_lib", seed=2)
    assert_same_counts(read_gsm(tmp_path, "GSM100"), short)
    assert_same_counts(read_gsm(tmp_path, "GSM1000"), long)


def test_cellranger_outs_folder(tmp_path, write_10x):
    written = write_10x(tmp_path, GSM, layout="cellranger")
    sample = tmp_path / f"{GSM}_x"
    (sample / "outs").mkdir()
    (sample / "filtered_feature_bc_matrix").rename(sample / "outs" / "filtered_feature_bc_matrix")
    counts = read_gsm(tmp_path, GSM)
    assert counts.files[0].parent.parent.name == "outs"
    assert (counts.X != written.X).nnz == 0


@pytest.mark.parametrize("which", [0, 1, 2], ids=["matrix", "barcodes", "features"])
def test_missing_file_of_a_triple_is_named(tmp_path, write_10x, which):
    written = write_10x(tmp_path, GSM)
    written.paths[which].unlink()
    role = ("matrix", "barcodes", "features")[which]
    kept = written.paths[(which + 1) % 3].name
    with pytest.raises(InputError, match=f"{kept}.*lacks its {role}"):
        find_gsm_files(tmp_path, GSM)


@pytest.mark.parametrize(("one", "other", "message"), [
    ({"middle": "a"}, {"middle": "b"}, "2 candidate matrix files"),  # two files for one GSM
    ({"layout": "flat"}, {"layout": "h5"}, "2 candidate sets"),  # two layouts for one GSM
])
def test_two_candidates_for_one_gsm_are_both_named(tmp_path, write_10x, one, other, message):
    first, second = write_10x(tmp_path, GSM, **one), write_10x(tmp_path, GSM, **other)
    with pytest.raises(InputError, match=message) as err:
        read_gsm(tmp_path, GSM)
    assert first.paths[0].name in str(err.value) and second.paths[0].name in str(err.value)


def test_no_files_names_gsm_and_folder(tmp_path, write_10x):
    write_10x(tmp_path, "GSM1000002")
    with pytest.raises(InputError, match=f"{GSM}: no filtered 10x files in {tmp_path}"):
        read_gsm(tmp_path, GSM)
    with pytest.raises(InputError, match="does not exist"):
        read_gsm(tmp_path / "nowhere", GSM)
    with pytest.raises(InputError, match="kind 'unfiltered'"):
        read_gsm(tmp_path, GSM, matrix_kind="unfiltered")  # type: ignore[arg-type]


def test_file_given_for_the_raw_folder_says_so(tmp_path):
    a_file = tmp_path / "raw"
    a_file.write_text("x")
    with pytest.raises(InputError, match=f"raw-data folder {a_file} is a file, not a folder"):
        read_gsm(a_file, GSM)
