"""The raw folder (io/raw_folder.py): `lmna-scrna inspect` (a clean 12-GSM folder exits 0; every problem is listed
and exits 1) and the file fingerprints that identify the data."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import scipy.io

from lmna_scrna.cli import main
from lmna_scrna.errors import InputError
from lmna_scrna.io.digests import SETTLE_SECONDS, file_fingerprint, memo_path
from lmna_scrna.io.raw_folder import inspect_dir

N_CELLS, N_GENES = 20, 50


@pytest.fixture
def study_dir(tmp_path, write_10x, sheet) -> Path:
    """All 12 GSMs of the sheet, tiny, in GEO flat layout."""
    raw = tmp_path / "raw"
    for i, gsm in enumerate(sheet["gsm"]):
        write_10x(raw, gsm, n_cells=N_CELLS, n_genes=N_GENES, n_antibody=2, seed=i)
    (raw / "ground_truth.json").write_text("{}")  # unrelated files are ignored
    return raw


def test_inspect_dir_table(study_dir, sheet):
    table, problems = inspect_dir(study_dir, sheet)
    assert problems == []
    assert list(table.columns) == ["gsm", "condition", "day", "replicate", "cells", "genes", "nnz", "files"]
    assert table["gsm"].tolist() == sheet["gsm"].tolist()
    assert (table["cells"] == N_CELLS).all() and (table["genes"] == N_GENES).all() and (table["nnz"] > 0).all()
    assert table.loc[0, "files"].startswith("GSM8325046_x_filtered_matrix.mtx.gz")


def test_clean_folder_exits_0_with_12_rows(study_dir, sheet, capsys):
    assert main(["inspect", str(study_dir)]) == 0
    out, err = capsys.readouterr()
    rows = out.strip().splitlines()[1:]
    assert len(rows) == 12
    assert all(gsm in row for gsm, row in zip(sheet["gsm"], rows))
    assert "problem" not in err


def test_old_kind_option_still_works_and_names_its_replacement(study_dir, capsys):
    assert main(["inspect", str(study_dir), "--kind", "raw"]) == 1  # the study has filtered matrices only
    out, err = capsys.readouterr()
    assert "--kind is deprecated, use --matrix-kind" in err
    assert "no raw 10x files" in out + err


def test_console_script(study_dir):
    script = Path(sys.executable).with_name("lmna-scrna")
    if not script.exists():
        pytest.skip(f"console script not installed beside {sys.executable}")
    done = subprocess.run([str(script), "inspect", str(study_dir)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 13


def test_every_problem_is_listed(study_dir, write_10x, capsys):
    for path in study_dir.glob("GSM8325046_*"):
        path.unlink()
    write_10x(study_dir, "GSM9999999")
    broken = next(study_dir.glob("GSM8325050_*_matrix.mtx.gz"))
    broken.write_bytes(broken.read_bytes()[:60])
    assert main(["inspect", str(study_dir)]) == 1
    out, err = capsys.readouterr()
    problems = [line for line in err.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 3, err
    assert any("GSM8325046: no filtered 10x files" in p for p in problems)
    assert any("GSM9999999 is not in the sample sheet" in p and "GSM9999999_x_filtered_matrix.mtx.gz" in p for p in problems)
    assert any(broken.name in p for p in problems)
    assert len(out.strip().splitlines()) == 13  # still one row per sheet GSM


def test_missing_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nowhere does not exist" in err


@pytest.mark.parametrize("change", ["order", "length"])
def test_gene_lists_that_differ_are_a_problem_as_for_prepare(study_dir, capsys, change):
    features = next(study_dir.glob("GSM8325052_*features.tsv.gz"))
    lines = gzip.decompress(features.read_bytes()).decode().splitlines(keepends=True)
    lines = [lines[1], lines[0], *lines[2:]] if change == "order" else lines[1:]  # (the last rows are antibodies)
    features.write_bytes(gzip.compress("".join(lines).encode()))
    if change == "length":  # keep the triple consistent: drop the first gene's row from the matrix too
        matrix = next(study_dir.glob("GSM8325052_*matrix.mtx.gz"))
        counts = scipy.io.mmread(gzip.open(matrix)).tocsr()[1:]
        with gzip.open(matrix, "wb") as fh:
            scipy.io.mmwrite(fh, counts.tocoo(), field="integer")

    assert main(["inspect", str(study_dir)]) == 1
    err = capsys.readouterr().err
    assert "problem: GSM8325052: gene list differs from that of GSM8325046" in err


# --------------------------------------------------------------------------- file fingerprints


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


def _settle() -> None:
    """Wait until files just written are old enough for their digest to be remembered (`digests.SETTLE_SECONDS`:
    younger ones are hashed every time; no call can date a ctime back)."""
    time.sleep(SETTLE_SECONDS + 0.1)


def test_same_size_edit_in_the_middle_changes_the_fingerprint_even_with_mtime_set_back(tmp_path, monkeypatch):
    """The whole content counts, not the name, size and ends; the memo cannot hide an edit that keeps
    size and mtime (the ctime moves), and it is used: a remembered file is not read again."""
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    path = tmp_path / "m.mtx"
    body = bytearray(b"1 2 3\n" * (1 << 20))  # 6 MiB: the middle is more than a MiB from either end
    path.write_bytes(body)
    _settle()
    before = file_fingerprint([path])
    assert json.loads(memo_path().read_text())[str(path.resolve())][-1] == hashlib.sha256(body).hexdigest()
    assert file_fingerprint([path]) == before  # from the memo: same answer

    times = path.stat()
    middle = len(body) // 2
    body[middle : middle + 5] = b"9 9 9"
    with path.open("r+b") as fh:  # in place: same inode, same size
        fh.seek(middle)
        fh.write(body[middle : middle + 5])
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))  # even with the mtime put back
    assert path.stat().st_size == times.st_size and path.stat().st_mtime_ns == times.st_mtime_ns
    assert file_fingerprint([path]) != before


def test_a_damaged_digest_memo_is_ignored_and_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    path = tmp_path / "m.mtx"
    path.write_bytes(b"x" * 100)
    _settle()
    expected = file_fingerprint([path])
    for damage in ("garbage {", "[]", '{"a": 1}', ""):
        memo_path().write_text(damage)
        assert file_fingerprint([path]) == expected
        assert str(path.resolve()) in json.loads(memo_path().read_text())


def test_near_empty_library_is_a_problem(tmp_path, write_10x, sheet):
    """What `simulate --line-effect-scale 1e6` used to write: one gene per cell. `inspect` says so."""
    raw = tmp_path / "raw"
    for i, gsm in enumerate(sheet["gsm"]):
        write_10x(raw, gsm, n_cells=N_CELLS, n_genes=N_GENES * 4, n_antibody=0, seed=i)
    gsm = sheet["gsm"].iloc[0]
    matrix = next(raw.glob(f"{gsm}*matrix.mtx.gz"))
    lines = gzip.decompress(matrix.read_bytes()).decode().splitlines()
    entries = [line for line in lines if not line.startswith("%")][1:]
    first_per_cell = {}
    for line in entries:
        first_per_cell.setdefault(line.split()[1], line)
    header = [line for line in lines if line.startswith("%")]
    size = f"{N_GENES * 4} {N_CELLS} {len(first_per_cell)}"
    matrix.write_bytes(gzip.compress(("\n".join([*header, size, *first_per_cell.values()]) + "\n").encode()))

    table, problems = inspect_dir(raw, sheet)
    assert problems == [f"{gsm}: near-empty library: its median cell detects 1 of {N_GENES * 4} genes "
                        f"(under 1%; {N_CELLS} nonzero counts in {N_CELLS} cells)"]
