"""The per-GSM cache (pp/gsm_cache.py, pp/gsm_pass.py): a damaged file is parsed again, an altered one is
an error naming it, whenever the damage happens."""

from __future__ import annotations

import anndata as ad
import pytest
from _cli_fixtures import error_lines, prepare_cli, small_args, study  # noqa: F401 (study: a fixture)
from _tenx_fixtures import SMALL_PARAMS

from lmna_scrna import cli
from lmna_scrna.errors import InputError
from lmna_scrna.pp.assemble import prepare_split
from lmna_scrna.pp.gsm_pass import CachedGSM, cache_file
from lmna_scrna.pp.splits import make_split


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
