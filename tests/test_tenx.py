"""10x readers (io/tenx.py): every layout, the Gene Expression filter, each kind of bad input, Cell Ranger's
HDF5 forms, and scanpy as the reference; where the files are found is test_layouts.py's."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
from _tenx_fixtures import Written, assert_same_counts, rewrite_gz

from lmna_scrna.errors import InputError
from lmna_scrna.io import tenx
from lmna_scrna.io.layouts import find_gsm_files
from lmna_scrna.io.tenx import read_gsm

GSM = "GSM1000001"
LAYOUTS = {"flat": "geo_flat", "cellranger": "cellranger_v3", "v2": "cellranger_v2", "h5": "h5"}


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
        ("%%MatrixMarket matrix coordinate real general", "50 20 2\n1 1 2\n2 1 -inf\n", "not a finite number"),
        ("%%MatrixMarket matrix coordinate integer general", "50 20 2\n1 1 3\n2 1 -1\n", "negative"),
        ("%%MatrixMarket matrix coordinate real general", "50 20 1\n2 1 1e30\n", "too large to be a UMI count"),
        ("%%MatrixMarket matrix coordinate integer general", "50 20 3\n1 1 3\n2 4 1\n1 1 2\n",
         r"lists 1 \(gene, barcode\) entry more than once"),
        ("%%MatrixMarket matrix coordinate pattern general", "50 20 1\n2 1\n", "banner"),
        ("%%MatrixMarket matrix array integer general", "50 20\n", "banner"),
        ("%%MatrixMarket matrix coordinate integer general", "50 20 3\n1 1 3\n", "unreadable"),
    ],
    ids=["real-fraction", "integer-fraction", "nan", "-inf", "negative", "1e30", "duplicate", "pattern", "dense", "short"],
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


# ----------------------------------------------------------------- Cell Ranger's HDF5 forms


def write_v2_h5(path: Path, genomes: dict[str, Written]) -> None:
    """Cell Ranger 2's HDF5: one group per genome with genes, gene_names and the CSC arrays."""
    with h5py.File(path, "w") as f:
        for genome, w in genomes.items():
            g = f.create_group(genome)
            g["data"], g["indices"], g["indptr"] = w.X.data.astype(np.int32), w.X.indices, w.X.indptr
            g["shape"] = np.array(w.X.shape[::-1], dtype=np.int32)
            g["barcodes"] = w.barcodes.astype("S")
            g["genes"], g["gene_names"] = w.ids.astype("S"), w.symbols.astype("S")


def test_cellranger2_h5_single_genome_matches_scanpy(tmp_path, write_10x):
    import scanpy as sc

    w = write_10x(tmp_path / "tmp", GSM, layout="flat")
    path = tmp_path / GSM / "outs" / "filtered_gene_bc_matrices_h5.h5"
    path.parent.mkdir(parents=True)
    write_v2_h5(path, {"GRCh38": w})

    counts = read_gsm(tmp_path, GSM)
    reference = sc.read_10x_h5(path, genome="GRCh38", gex_only=False)
    assert counts.files == (path,)
    assert (counts.X != sp.csr_matrix(reference.X)).nnz == 0
    assert list(counts.gene_ids) == list(reference.var["gene_ids"])
    assert list(counts.barcodes) == list(reference.obs_names)


def test_cellranger2_h5_with_several_genomes_is_refused_listing_them(tmp_path, write_10x):
    w = write_10x(tmp_path / "tmp", GSM, layout="flat")
    path = tmp_path / f"{GSM}_filtered_gene_bc_matrices_h5.h5"
    write_v2_h5(path, {"GRCh38": w, "mm10": w})
    with pytest.raises(InputError, match=r"holds 2 genomes \(GRCh38, mm10\)"):
        read_gsm(tmp_path, GSM)


def test_probe_level_h5_gives_gene_ids_with_probe_counts_summed(tmp_path, write_10x):
    w = write_10x(tmp_path, GSM, layout="h5", n_genes=40)
    gene_of_probe = np.array([f"ENSG{i // 2:011d}" for i in range(40)])  # two probes per gene
    with h5py.File(w.paths[0], "r+") as f:
        f["matrix/features/gene_id"] = gene_of_probe.astype("S")
        f["matrix/features/id"][...] = np.array([f"{g}|probe{i}" for i, g in enumerate(gene_of_probe)], dtype="S")

    counts = read_gsm(tmp_path, GSM)
    expected = w.X[:, 0::2] + w.X[:, 1::2]
    assert list(counts.gene_ids) == [f"ENSG{i:011d}" for i in range(20)]
    assert (counts.X != sp.csr_matrix(expected)).nnz == 0


# ----------------------------------------------------------------- duplicates, short lines, gzip


def test_duplicate_barcodes_are_refused_naming_the_file(tmp_path, write_10x):
    w = write_10x(tmp_path, gsm="GSM1000001")
    rewrite_gz(w.paths[1], lambda lines: [lines[0], lines[0], *lines[2:]])
    with pytest.raises(InputError, match=rf"{w.paths[1].name}: barcode '{w.barcodes[0]}' occurs 2 times"):
        tenx.read_gsm(tmp_path, "GSM1000001")


def test_duplicate_gene_ids_are_refused_naming_the_file(tmp_path, write_10x):
    w = write_10x(tmp_path, gsm="GSM1000001")
    rewrite_gz(w.paths[2], lambda lines: [lines[0], lines[0], *lines[2:]])
    with pytest.raises(InputError, match=rf"{w.paths[2].name}: gene ID '{w.ids[0]}' occurs 2 times"):
        tenx.read_gsm(tmp_path, "GSM1000001")


def test_duplicate_barcodes_in_h5_are_refused(tmp_path, write_10x):
    import h5py

    w = write_10x(tmp_path, gsm="GSM1000001", layout="h5")
    with h5py.File(w.paths[0], "r+") as f:
        barcodes = f["matrix/barcodes"][()]
        barcodes[1] = barcodes[0]
        f["matrix/barcodes"][...] = barcodes
    with pytest.raises(InputError, match="barcode .* occurs 2 times"):
        tenx.read_gsm(tmp_path, "GSM1000001")


def test_short_features_line_is_refused_not_dropped(tmp_path, write_10x):
    w = write_10x(tmp_path, gsm="GSM1000001")
    rewrite_gz(w.paths[2], lambda lines: [*lines[:4], "\t".join(lines[4].split("\t")[:2]), *lines[5:]])
    with pytest.raises(InputError, match=rf"{w.paths[2].name}: line 5 has fewer than 3 tab-separated fields"):
        tenx.read_gsm(tmp_path, "GSM1000001")


def test_reader_decompresses_with_isal_and_still_names_damaged_gzip(tmp_path, write_10x):
    from isal import igzip

    w = write_10x(tmp_path, gsm="GSM1000001")
    with tenx._open_binary(w.paths[0]) as fh:
        assert isinstance(fh, igzip.GzipFile)
    w.paths[0].write_bytes(w.paths[0].read_bytes()[:-12])
    with pytest.raises(InputError, match=w.paths[0].name):
        tenx.read_gsm(tmp_path, "GSM1000001")


@pytest.mark.parametrize("order", ["cell by cell", "shuffled"])
def test_entries_in_any_order_give_the_same_cells_by_genes_matrix(order, tmp_path):
    from lmna_scrna.io.tenx import _Entries, _to_cells_by_genes

    rng = np.random.default_rng(0)
    dense = rng.poisson(0.7, size=(40, 25)).astype(np.float64)  # genes × cells, as a .mtx stores it
    genes, cells = np.nonzero(dense.T)[::-1]  # Cell Ranger's order: by cell, genes ascending
    if order == "shuffled":
        perm = rng.permutation(genes.size)
        genes, cells = genes[perm], cells[perm]
    entries = _Entries(genes.astype(np.int32), cells.astype(np.int32), dense[genes, cells], dense.shape)
    X = _to_cells_by_genes(entries, tmp_path / "m.mtx")

    assert X.dtype == np.int32 and X.has_canonical_format
    np.testing.assert_array_equal(X.toarray(), dense.T.astype(np.int32))
    assert entries.genes is None and entries.cells is None and entries.values is None  # freed as X was built
