"""Real Cell Ranger output as it comes (issue #11, item 11), laid out as Cell Ranger writes it.

The layouts are built from `_tenx_fixtures` writers and moved where Cell Ranger
puts them; scanpy, which reads these files itself, is the reference where it can.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
from _tenx_fixtures import Written

from lmna_scrna.errors import InputError
from lmna_scrna.io.tenx import read_gsm

GSM = "GSM1000001"


def same_counts(counts, written: Written) -> None:
    gex = written.gex
    assert (counts.X != sp.csr_matrix(written.X[:, gex])).nnz == 0
    assert list(counts.barcodes) == list(written.barcodes)
    assert list(counts.gene_ids) == list(written.ids[gex])


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
    same_counts(counts, written)


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
    same_counts(counts, w)


def test_three_files_directly_in_the_gsm_folder(tmp_path, write_10x):
    w = write_10x(tmp_path / "tmp", GSM, layout="cellranger")
    shutil.move(w.paths[0].parent, tmp_path / GSM)
    shutil.rmtree(tmp_path / "tmp")
    same_counts(read_gsm(tmp_path, GSM), w)
    with pytest.raises(InputError, match="no raw 10x files"):
        read_gsm(tmp_path, GSM, kind="raw")


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


def test_no_set_found_lists_the_10x_looking_files_and_why(tmp_path, write_10x):
    raw = write_10x(tmp_path, GSM, layout="flat", kind="raw")
    stray = tmp_path / GSM / "odd" / "matrix.mtx.gz"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"")
    with pytest.raises(InputError) as err:
        read_gsm(tmp_path, GSM)
    message = str(err.value)
    assert f"{raw.paths[0].name} (another kind of matrix)" in message
    assert f"{GSM}/odd/matrix.mtx.gz (not in a known layout)" in message
