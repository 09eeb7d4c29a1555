"""Safe extraction of GEO's tar (io/extract.py): hostile, corrupt, truncated or odd archives are refused
whole, before anything is written; a killed extraction's leftovers are removed by the next one."""

from __future__ import annotations

import io
import tarfile

import pytest
from _geo_fixtures import build_tar, fake_gsm_files, hostile_member, many_member_tar

from lmna_scrna.atomic import _host
from lmna_scrna.errors import InputError
from lmna_scrna.io.extract import safe_extract


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "fifo"])
def test_hostile_member_is_refused_before_writing_anything(files, tmp_path, kind):
    outside, work = tmp_path / "outside", tmp_path / "work"
    outside.mkdir()
    work.mkdir()
    member = hostile_member(kind, outside)
    tar_path = tmp_path / "hostile.tar"
    tar_path.write_bytes(build_tar(files, [member]))

    with pytest.raises(InputError, match="refusing member") as err:
        safe_extract(tar_path, work / "raw")

    assert member.name in str(err.value) and str(tar_path) in str(err.value)
    assert list(work.iterdir()) == []  # not even the good members, nor a temp folder
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.tar", "outside", "work"]


def test_corrupt_tar_names_the_file(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar" * 100)

    with pytest.raises(InputError, match="bad.tar: unreadable tar"):
        safe_extract(bad, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_tar_with_a_corrupt_7th_header_extracts_nothing(tmp_path):
    payload = bytearray(many_member_tar(36))
    with tarfile.open(fileobj=io.BytesIO(bytes(payload))) as tar:
        seventh = tar.getmembers()[6]
    payload[seventh.offset + 148 : seventh.offset + 156] = b"9999999\0"  # a wrong header checksum
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(payload))

    with pytest.raises(InputError, match=r"bad\.tar: damaged member header .* after 6 member") as err:
        safe_extract(bad, tmp_path / "raw")
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar"]


def test_tar_without_members_is_an_error(tmp_path):
    empty = tmp_path / "empty.tar"
    empty.write_bytes(build_tar({}))

    with pytest.raises(InputError, match="empty.tar: the tar holds no files"):
        safe_extract(empty, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_intact_tar_with_padding_still_extracts(tmp_path):
    tar_path = tmp_path / "ok.tar"
    tar_path.write_bytes(many_member_tar(36) + bytes(20480))

    assert len(list(safe_extract(tar_path, tmp_path / "raw").iterdir())) == 36


def test_member_name_too_long_for_the_file_system_is_one_line(tmp_path):
    tar_path = tmp_path / "long.tar"
    tar_path.write_bytes(build_tar({"GSM8325046_" + "x" * 300 + "_filtered_matrix.mtx.gz": b"data"}))

    with pytest.raises(InputError, match="long.tar: cannot extract") as err:
        safe_extract(tar_path, tmp_path / "raw")
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.tar"]


def test_duplicate_member_name_is_refused(tmp_path):
    first = {"GSM8325046_x_filtered_barcodes.tsv.gz": b"first"}
    again = tarfile.TarInfo("./GSM8325046_x_filtered_barcodes.tsv.gz")  # the same file, spelt otherwise
    again.size = 6
    tar_path = tmp_path / "dup.tar"
    tar_path.write_bytes(build_tar(first, [again]))

    with pytest.raises(InputError, match="dup.tar: member 'GSM8325046_x_filtered_barcodes.tsv.gz' occurs twice"):
        safe_extract(tar_path, tmp_path / "raw")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.tar"]


def test_tar_of_only_a_folder_is_refused(tmp_path):
    folder = tarfile.TarInfo("GSM8325046_x")
    folder.type = tarfile.DIRTYPE
    tar_path = tmp_path / "dir.tar"
    tar_path.write_bytes(build_tar({}, [folder]))

    with pytest.raises(InputError, match=r"dir.tar: the tar holds no files \(1 folder"):
        safe_extract(tar_path, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_extraction_removes_a_killed_extractions_folder(tmp_path, dead_pid):
    tar_path = tmp_path / "x.tar"
    tar_path.write_bytes(build_tar(fake_gsm_files()))
    stale = tmp_path / f".raw.{_host()}-{dead_pid}.abc_123x.part"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "half.mtx.gz").write_bytes(b"x")

    safe_extract(tar_path, tmp_path / "raw")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw", "x.tar"]
