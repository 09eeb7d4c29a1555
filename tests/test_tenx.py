"""10x readers: every layout, the Gene Expression filter, each kind of bad input, and scanpy as the reference."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from lmna_scrna.errors import InputError
from lmna_scrna.io.layouts import find_gsm_files
from lmna_scrna.io.raw_folder import file_fingerprint
from lmna_scrna.io.tenx import read_gsm

GSM = "GSM1000001"
LAYOUTS = {"flat": "geo_flat", "cellranger": "cellranger_v3", "v2": "cellranger_v2", "h5": "h5"}


def assert_same_counts(got, written) -> None:
    """The reader returns exactly the Gene Expression part of what was written, cells × genes."""
    keep = written.gex
    assert isinstance(got.X, sp.csr_matrix) and got.X.dtype == np.int32
    assert got.X.shape == (len(written.barcodes), keep.sum())
    assert (got.X != written.X[:, keep]).nnz == 0
    assert list(got.barcodes) == list(written.barcodes)
    assert list(got.gene_ids) == list(written.ids[keep])
    assert list(got.gene_symbols) == list(written.symbols[keep])


def write_mtx_text(path: Path, body: str, banner: str = "%%MatrixMarket matrix coordinate integer general") -> None:
    with gzip.open(path, "wt") as fh:
        fh.write(f"{banner}\n{body}")


# ----------------------------------------------------------------- layouts


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_reads_back_what_was_written(tmp_path, write_10x, layout):
    written = write_10x(tmp_path, GSM, layout=layout, n_antibody=0 if layout == "v2" else 4)
    files = find_gsm_files(tmp_path, GSM)
    assert files.layout == LAYOUTS[layout]
    assert set(files.paths) == set(written.paths)
    counts = read_gsm(tmp_path, GSM)
    assert_same_counts(counts, written)
    assert set(counts.files) == set(written.paths)


def test_gene_expression_filter_drops_other_feature_types(tmp_path, write_10x):
    write_10x(tmp_path, GSM, n_genes=30, n_antibody=7)
    counts = read_gsm(tmp_path, GSM)
    assert counts.X.shape[1] == 30
    assert not any(g.startswith("AB") for g in counts.gene_ids)


def test_kind_selects_raw_or_filtered_files(tmp_path, write_10x):
    filtered = write_10x(tmp_path, GSM, kind="filtered", n_cells=10, seed=1)
    raw = write_10x(tmp_path, GSM, kind="raw", n_cells=30, seed=2)
    assert_same_counts(read_gsm(tmp_path, GSM, kind="filtered"), filtered)
    assert_same_counts(read_gsm(tmp_path, GSM, kind="raw"), raw)


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


def test_counts_beyond_int32_are_kept_exact(tmp_path, write_10x):
    written = write_10x(tmp_path, GSM, n_cells=2, n_genes=3)
    big = 2**31 + 5
    write_mtx_text(written.paths[0], f"3 2 1\n2 1 {big}\n")
    counts = read_gsm(tmp_path, GSM)
    assert counts.X.dtype == np.int64 and counts.X[0, 1] == big


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
@pytest.mark.parametrize("which", [0, 1, 2], ids=["matrix", "barcodes", "features"])
def test_damaged_gzip_names_the_file(tmp_path, write_10x, which, damage):
    written = write_10x(tmp_path, GSM, n_cells=200, n_genes=300)
    path = written.paths[which]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x1f\x8b" + os.urandom(len(data)))
    with pytest.raises(InputError, match=path.name):
        read_gsm(tmp_path, GSM)


@pytest.mark.parametrize("which", [1, 2], ids=["barcodes", "features"])
def test_shape_disagreeing_with_names_is_refused(tmp_path, write_10x, which):
    written = write_10x(tmp_path, GSM)
    path = written.paths[which]
    with gzip.open(path, "rt") as fh:
        lines = fh.readlines()
    with gzip.open(path, "wt") as fh:
        fh.writelines(lines[:-1])
    with pytest.raises(InputError, match=f"{written.paths[0].name}.*{path.name}"):
        read_gsm(tmp_path, GSM)


@pytest.mark.parametrize(
    ("banner", "body", "problem"),
    [
        ("%%MatrixMarket matrix coordinate real general", "50 20 2\n1 1 2\n2 1 1.5\n", "non-integer"),
        ("%%MatrixMarket matrix coordinate integer general", "50 20 1\n2 1 1.5\n", "non-integer"),
        ("%%MatrixMarket matrix coordinate real general", "50 20 1\n2 1 nan\n", "not a finite number"),
        ("%%MatrixMarket matrix coordinate integer general", "50 20 2\n1 1 3\n2 1 -1\n", "negative"),
        ("%%MatrixMarket matrix coordinate real general", "50 20 1\n2 1 1e30\n", "too large to be a UMI count"),
        ("%%MatrixMarket matrix coordinate integer general", "50 20 3\n1 1 3\n2 4 1\n1 1 2\n",
         r"lists 1 \(gene, barcode\) entry more than once"),
        ("%%MatrixMarket matrix coordinate pattern general", "50 20 1\n2 1\n", "banner"),
        ("%%MatrixMarket matrix array integer general", "50 20\n", "banner"),
        ("%%MatrixMarket matrix coordinate integer general", "50 20 3\n1 1 3\n", "unreadable"),
    ],
    ids=["real-fraction", "integer-fraction", "nan", "negative", "1e30", "duplicate", "pattern", "dense", "short"],
)
def test_bad_counts_are_refused(tmp_path, write_10x, banner, body, problem):
    written = write_10x(tmp_path, GSM)
    write_mtx_text(written.paths[0], body, banner)
    with pytest.raises(InputError, match=f"{written.paths[0].name}.*{problem}|{problem}.*{written.paths[0].name}"):
        read_gsm(tmp_path, GSM)


def test_whole_real_counts_are_accepted(tmp_path, write_10x):
    written = write_10x(tmp_path, GSM, n_cells=2, n_genes=3)
    write_mtx_text(written.paths[0], "3 2 2\n1 1 2.0\n3 2 7\n", "%%MatrixMarket matrix coordinate real general")
    assert read_gsm(tmp_path, GSM).X.toarray().tolist() == [[2, 0, 0], [0, 0, 7]]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["matrix", "barcodes", "features"])
def test_missing_file_of_a_triple_is_named(tmp_path, write_10x, which):
    written = write_10x(tmp_path, GSM)
    written.paths[which].unlink()
    role = ("matrix", "barcodes", "features")[which]
    kept = written.paths[(which + 1) % 3].name
    with pytest.raises(InputError, match=f"{kept}.*lacks its {role}"):
        find_gsm_files(tmp_path, GSM)


def test_two_candidate_files_for_one_gsm(tmp_path, write_10x):
    first = write_10x(tmp_path, GSM, middle="a")
    second = write_10x(tmp_path, GSM, middle="b")
    with pytest.raises(InputError, match="2 candidate matrix files") as err:
        read_gsm(tmp_path, GSM)
    assert first.paths[0].name in str(err.value) and second.paths[0].name in str(err.value)


def test_two_layouts_for_one_gsm(tmp_path, write_10x):
    flat = write_10x(tmp_path, GSM, layout="flat")
    h5 = write_10x(tmp_path, GSM, layout="h5")
    with pytest.raises(InputError, match="2 candidate sets") as err:
        read_gsm(tmp_path, GSM)
    assert flat.paths[0].name in str(err.value) and h5.paths[0].name in str(err.value)


def test_no_files_names_gsm_and_folder(tmp_path, write_10x):
    write_10x(tmp_path, "GSM1000002")
    with pytest.raises(InputError, match=f"{GSM}: no filtered 10x files in {tmp_path}"):
        read_gsm(tmp_path, GSM)
    with pytest.raises(InputError, match="does not exist"):
        read_gsm(tmp_path / "nowhere", GSM)
    with pytest.raises(InputError, match="kind 'unfiltered'"):
        read_gsm(tmp_path, GSM, kind="unfiltered")  # type: ignore[arg-type]


def test_h5_damage_is_named(tmp_path, write_10x):
    written = write_10x(tmp_path, GSM, layout="h5")
    path = written.paths[0]
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(InputError, match=path.name):
        read_gsm(tmp_path, GSM)


def test_h5_shape_disagreement_is_named(tmp_path, write_10x):
    import h5py

    path = write_10x(tmp_path, GSM, layout="h5").paths[0]
    with h5py.File(path, "r+") as f:
        barcodes = f["matrix/barcodes"][()]
        del f["matrix/barcodes"]
        f["matrix/barcodes"] = barcodes[:-1]
    with pytest.raises(InputError, match=f"{path.name}.*disagrees"):
        read_gsm(tmp_path, GSM)


# ----------------------------------------------------------------- fingerprint


def test_fingerprint_follows_content_and_name_not_mtime_or_folder(tmp_path):
    a = tmp_path / "one" / "m.mtx.gz"
    a.parent.mkdir()
    a.write_bytes(b"x" * 100)
    b = tmp_path / "two" / "m.mtx.gz"
    b.parent.mkdir()
    b.write_bytes(b"x" * 100)
    os.utime(b, ns=(1, 1))
    assert file_fingerprint([a]) == file_fingerprint([b])
    b.write_bytes(b"x" * 99 + b"y")
    assert file_fingerprint([a]) != file_fingerprint([b])
    c = tmp_path / "one" / "other.mtx.gz"
    c.write_bytes(b"x" * 100)
    assert file_fingerprint([a]) != file_fingerprint([c])
    assert file_fingerprint([a, c]) != file_fingerprint([c, a])


def test_fingerprint_of_large_file_reads_both_ends(tmp_path):
    path = tmp_path / "big.bin"
    body = bytearray(3 * 2**20)
    path.write_bytes(body)
    base = file_fingerprint([path])
    body[-1] = 1
    path.write_bytes(body)
    assert file_fingerprint([path]) != base
    with pytest.raises(InputError, match="missing.bin"):
        file_fingerprint([tmp_path / "missing.bin"])


# ----------------------------------------------------------------- scanpy as the reference


@pytest.fixture(scope="module")
def sc():
    return pytest.importorskip("scanpy")


def assert_same_as_scanpy(ours, theirs) -> None:
    assert np.array_equal(ours.X.toarray(), theirs.X.toarray())
    assert list(ours.barcodes) == list(theirs.obs_names)
    assert list(ours.gene_ids) == list(theirs.var["gene_ids"] if "gene_ids" in theirs.var else theirs.var_names)
    symbols = theirs.var["gene_symbols"] if "gene_symbols" in theirs.var else theirs.var_names
    assert list(ours.gene_symbols) == list(symbols)


def test_cellranger_folder_matches_scanpy(tmp_path, write_10x, sc):
    written = write_10x(tmp_path, GSM, layout="cellranger", n_antibody=3)
    theirs = sc.read_10x_mtx(written.paths[0].parent, var_names="gene_ids")
    assert_same_as_scanpy(read_gsm(tmp_path, GSM), theirs)


def test_geo_flat_matches_scanpy(tmp_path, write_10x, sc):
    raw = tmp_path / "raw"
    written = write_10x(raw, GSM, middle="Control_day0A", n_antibody=3)
    plain = tmp_path / "plain"
    plain.mkdir()
    for path, name in zip(written.paths, ("matrix.mtx.gz", "barcodes.tsv.gz", "features.tsv.gz")):
        (plain / name).symlink_to(path)
    theirs = sc.read_10x_mtx(plain, var_names="gene_ids")
    assert_same_as_scanpy(read_gsm(raw, GSM), theirs)


def test_cellranger_v2_matches_scanpy(tmp_path, write_10x, sc):
    written = write_10x(tmp_path, GSM, layout="v2")
    theirs = sc.read_10x_mtx(written.paths[0].parent, var_names="gene_ids")
    assert_same_as_scanpy(read_gsm(tmp_path, GSM), theirs)


def test_h5_matches_scanpy(tmp_path, write_10x, sc):
    written = write_10x(tmp_path, GSM, layout="h5", n_antibody=3)
    theirs = sc.read_10x_h5(written.paths[0])
    assert_same_as_scanpy(read_gsm(tmp_path, GSM), theirs)


# ----------------------------------------------------------------- .mtx variants


@pytest.mark.parametrize(
    ("banner", "body"),
    [
        ("%%MatrixMarket matrix coordinate integer general", "% a comment\n%\n3 2 3\n3 2 8\n1 1 2\n2 2 1\n"),
        ("%%MatrixMarket matrix coordinate integer general", "3 2 3\n1 1 2.0\n3 2 8\n2 2 1\n"),
        ("%%MatrixMarket matrix coordinate real general", "3 2 3\n1 1 2\n3 2 8e0\n2 2 1\n"),
        ("%%MatrixMarket matrix coordinate integer general", "3 2 3\n1 1 2\n3 2 8 \n2 2 1\n"),
    ],
    ids=["comments-unsorted", "whole-real-in-integer-file", "exponent", "trailing-space"],
)
def test_mtx_variants_read_as_the_same_counts(tmp_path, write_10x, banner, body):
    """Comments, unsorted entries, whole reals and odd spacing all give the same counts (repeats are refused)."""
    written = write_10x(tmp_path, GSM, n_cells=2, n_genes=3)
    write_mtx_text(written.paths[0], body, banner)
    got = read_gsm(tmp_path, GSM).X
    assert got.dtype == np.int32 and got.has_canonical_format
    assert got.toarray().tolist() == [[2, 0, 0], [0, 1, 8]]



def test_duplicate_entries_in_h5_are_refused_naming_the_file(tmp_path, write_10x):
    import h5py

    w = write_10x(tmp_path, GSM, layout="h5")
    with h5py.File(w.paths[0], "r+") as f:  # the first cell's second entry now repeats its first gene
        indices = f["matrix/indices"][()]
        start = f["matrix/indptr"][0]
        indices[start + 1] = indices[start]
        f["matrix/indices"][...] = indices
    with pytest.raises(InputError, match=rf"{w.paths[0].name} lists 1 \(gene, barcode\) entry more than once"):
        read_gsm(tmp_path, GSM)


def test_placeholder_gene_ids_say_what_to_do(tmp_path, write_10x):
    w = write_10x(tmp_path, GSM, n_genes=5)
    with gzip.open(w.paths[2], "wt") as fh:  # Seurat's pbmc_small: unique symbols, one placeholder ID
        fh.writelines(f"ENSGXXXXXX\t{s}\tGene Expression\n" for s in w.symbols)
    with pytest.raises(InputError, match=r"'ENSGXXXXXX' occurs 5 times.*pbmc_small.*gene symbols, in its ID column"):
        read_gsm(tmp_path, GSM)


def test_file_given_for_the_raw_folder_says_so(tmp_path):
    a_file = tmp_path / "raw"
    a_file.write_text("x")
    with pytest.raises(InputError, match=f"raw-data folder {a_file} is a file, not a folder"):
        read_gsm(a_file, GSM)
