"""GEO download (io/geo.py, io/http_range.py) against a real HTTP server on 127.0.0.1 (`_geo_fixtures`):
resume, size and validator checks over real sockets, error pages, the folder lock, tars that cannot be
used, and `lmna-scrna download`. Extraction itself is tested in test_extract.py.
"""

from __future__ import annotations

import fcntl
import io
import logging
import socket
import tarfile
from pathlib import Path

import pytest
from _geo_fixtures import TIMEOUT_S, build_tar, fake_gsm_files, hostile_member, many_member_tar

from lmna_scrna import cli
from lmna_scrna.errors import InputError
from lmna_scrna.io.extract import safe_extract
from lmna_scrna.io.geo import TAR_NAME, download, fetch_raw


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def cut_before_third_header(payload: bytes) -> bytes:
    """The tar cut exactly where its third member's header starts: every member read is whole."""
    with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
        return payload[: tar.getmembers()[2].offset]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --------------------------------------------------------------------------- download and resume


def test_full_transfer_extracts_the_original_files(server, files, tmp_path):
    raw = fetch_raw(server.url, tmp_path, timeout=TIMEOUT_S)

    assert raw == tmp_path / "raw"
    assert tree(raw) == files
    assert (tmp_path / TAR_NAME).read_bytes() == server.payload
    assert sorted(p.name for p in tmp_path.iterdir()) == [TAR_NAME, "raw"]  # no .part, no temp folder
    # the download ends by asking for what lies past the announced size (a 416 proves nothing does)
    assert server.ranges == [None, f"bytes={len(server.payload)}-"]


def test_fetch_raw_is_idempotent_without_network(server, tmp_path):
    first = fetch_raw(server.url, tmp_path, timeout=TIMEOUT_S)
    seen = len(server.ranges)
    (tmp_path / TAR_NAME).unlink()  # the extracted folder alone is enough

    assert fetch_raw(server.url, tmp_path, timeout=TIMEOUT_S) == first
    assert len(server.ranges) == seen


def test_existing_complete_file_is_reused(server, tmp_path):
    dest = tmp_path / TAR_NAME
    dest.write_bytes(b"already here")

    assert download(server.url, dest, timeout=TIMEOUT_S) == dest
    assert dest.read_bytes() == b"already here"
    assert server.ranges == []


def test_cut_transfer_keeps_part_then_resumes_to_same_bytes(server, tmp_path):
    cut = len(server.payload) // 2
    server.cut_after = cut
    dest = tmp_path / TAR_NAME
    part = tmp_path / f"{TAR_NAME}.part"

    with pytest.raises(InputError, match=rf"got {cut} bytes .* announced {len(server.payload)}") as err:
        download(server.url, dest, timeout=TIMEOUT_S)
    assert server.url in str(err.value)
    assert part.stat().st_size == cut
    assert not dest.exists()

    assert download(server.url, dest, timeout=TIMEOUT_S) == dest
    assert server.ranges[1] == f"bytes={cut}-"
    assert dest.read_bytes() == server.payload
    assert not part.exists()


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.ignore_range = True
    dest = tmp_path / TAR_NAME
    (tmp_path / f"{TAR_NAME}.part").write_bytes(b"stale bytes from another file")

    download(server.url, dest, timeout=TIMEOUT_S)

    assert server.ranges[0] == "bytes=29-"
    assert dest.read_bytes() == server.payload


def test_misplaced_range_is_refused_and_part_kept(server, tmp_path):
    server.range_shift = 1
    part = tmp_path / f"{TAR_NAME}.part"
    part.write_bytes(server.payload[:100])

    with pytest.raises(InputError, match="asked for bytes from 100 but the server sent bytes from 101"):
        download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)
    assert part.read_bytes() == server.payload[:100]
    assert not (tmp_path / TAR_NAME).exists()


def test_complete_part_is_finished_by_a_416(server, tmp_path):
    (tmp_path / f"{TAR_NAME}.part").write_bytes(server.payload)

    download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)

    assert server.ranges == [f"bytes={len(server.payload)}-"]
    assert (tmp_path / TAR_NAME).read_bytes() == server.payload


def test_416_for_a_range_inside_the_file_restarts_instead_of_looping(serve, tmp_path, caplog):
    server = serve(build_tar(fake_gsm_files()))
    (tmp_path / f"{TAR_NAME}.part").write_bytes(server.payload[:1000])
    server.refuse_ranges = True

    with caplog.at_level(logging.WARNING, logger="lmna_scrna.io.geo"):
        dest = download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)

    assert dest.read_bytes() == server.payload
    assert any("refused bytes 1000-" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("delta", [+1000, -1000], ids=["announces-more", "announces-less"])
def test_length_lie_is_an_error_and_leaves_no_final_file(server, tmp_path, delta):
    server.length_delta = delta
    size = len(server.payload)

    with pytest.raises(InputError, match=str(size)) as err:
        fetch_raw(server.url, tmp_path, timeout=TIMEOUT_S)

    assert server.url in str(err.value)
    assert str(size + delta) in str(err.value)
    assert not (tmp_path / TAR_NAME).exists()
    assert not (tmp_path / "raw").exists()


def test_stalled_transfer_times_out_and_keeps_part(server, tmp_path):
    server.stall_after = 1000

    with pytest.raises(InputError, match=r"interrupted after 1000 bytes \(timed out\); run again to resume"):
        download(server.url, tmp_path / TAR_NAME, timeout=0.5)
    assert (tmp_path / f"{TAR_NAME}.part").stat().st_size == 1000
    assert not (tmp_path / TAR_NAME).exists()


def test_unreachable_server_is_one_line_error(tmp_path):
    with socket.socket() as sock:  # a port that was just free: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{TAR_NAME}"

    with pytest.raises(InputError, match="cannot download") as err:
        download(url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)
    assert url in str(err.value) and "\n" not in str(err.value)


def test_failed_download_leaves_no_empty_part(server_url, tmp_path):
    with pytest.raises(InputError, match="404"):
        download(server_url.replace(TAR_NAME, "missing.tar"), tmp_path / TAR_NAME, timeout=TIMEOUT_S)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- validators, error pages, the lock


def test_file_changed_between_attempts_restarts_instead_of_splicing(validating, tmp_path, caplog):
    old, new = build_tar(fake_gsm_files()), many_member_tar(40)
    new = new[: len(old)] if len(new) > len(old) else new + bytes(len(old) - len(new))  # same size: the worst case
    server = validating(old)
    server.cut_after = len(old) // 2
    with pytest.raises(InputError, match="run again to resume"):
        download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)

    server.payload = new
    with caplog.at_level(logging.WARNING, logger="lmna_scrna.io.geo"):
        dest = download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)

    assert server.if_ranges[1] is not None  # the resume carried the first reply's ETag
    assert dest.read_bytes() == new
    assert any("restarting from byte 0" in r.getMessage() for r in caplog.records)
    assert sorted(p.name for p in tmp_path.iterdir()) == [TAR_NAME]  # validators removed with the .part


def test_size_change_without_if_range_support_restarts(serve, tmp_path):
    server = serve(build_tar(fake_gsm_files()))
    server.cut_after = 1000
    with pytest.raises(InputError):
        download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)

    server.payload = many_member_tar(50)  # the plain handler ignores If-Range, but the size differs
    assert download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S).read_bytes() == server.payload


def test_html_error_page_never_becomes_the_tar(serve, tmp_path):
    server = serve(b"<html><body>Service temporarily unavailable</body></html>" * 10)

    with pytest.raises(InputError, match="not a tar") as err:
        fetch_raw(server.url, tmp_path, timeout=TIMEOUT_S)
    assert server.url in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_html_page_on_resume_keeps_the_part_and_its_validators(validating, tmp_path):
    tar = build_tar(fake_gsm_files())
    server = validating(tar)
    server.cut_after = 20_000
    part, saved = tmp_path / f"{TAR_NAME}.part", tmp_path / f"{TAR_NAME}.part.json"
    with pytest.raises(InputError, match="run again to resume"):
        download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)
    validators = saved.read_text()

    server.payload = b"<html><body>Service temporarily unavailable</body></html>" * 30  # a new ETag: a 200
    with pytest.raises(InputError, match=rf"not a tar .*{part.name} \(20000 bytes\) is kept"):
        download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)
    assert part.read_bytes() == tar[:20_000]
    assert saved.read_text() == validators

    server.payload = tar  # the file is back: the kept part resumes where it stopped
    assert download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S).read_bytes() == tar
    assert server.ranges[-2] == "bytes=20000-"


def test_two_downloads_into_one_folder_cannot_both_append(serve, tmp_path):
    server = serve(build_tar(fake_gsm_files()))
    part = tmp_path / f"{TAR_NAME}.part"
    with part.open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running download holds
        with pytest.raises(InputError, match="being written by another download"):
            download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)
    assert server.ranges == []
    assert part.stat().st_size == 0


# --------------------------------------------------------------------------- downloaded tars that cannot be used


def test_hostile_tar_downloaded_then_refused(serve, files, tmp_path):
    server = serve(build_tar(files, [hostile_member("dotdot", tmp_path)]))
    dest = tmp_path / "dest"

    with pytest.raises(InputError, match=r"refusing member '\.\./evil'.*moved the tar to .*\.refused"):
        fetch_raw(server.url, dest, timeout=TIMEOUT_S)

    assert sorted(p.name for p in dest.iterdir()) == [f"{TAR_NAME}.refused"]  # a re-run starts clean
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "no-length"])
def test_tar_cut_before_a_header_is_refused_moved_aside_and_refetched(serve, tmp_path, send_length):
    whole = build_tar(fake_gsm_files())
    server = serve(cut_before_third_header(whole))
    server.send_length = send_length

    with pytest.raises(InputError, match=r"without the end-of-archive marker, after 2 member.*moved the tar to") as err:
        fetch_raw(server.url, tmp_path, timeout=TIMEOUT_S)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{TAR_NAME}.refused"]

    server.payload = whole  # the next run starts clean and gets the whole file
    assert len(list(fetch_raw(server.url, tmp_path, timeout=TIMEOUT_S).iterdir())) == 3


def test_body_of_unknown_size_cut_mid_member_never_gets_the_final_name(serve, tmp_path):
    server = serve(build_tar(fake_gsm_files()))
    server.send_length, server.ignore_range, server.cut_after = False, True, 30_000  # ends "cleanly" mid-member

    with pytest.raises(InputError, match="announced no size, and the server ignores Range") as err:
        download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)
    assert "\n" not in str(err.value)
    assert not (tmp_path / TAR_NAME).exists()


def test_body_of_unknown_size_is_finished_after_a_416_confirms_its_end(serve, tmp_path):
    server = serve(build_tar(fake_gsm_files()))
    server.send_length, server.cut_after = False, 30_000

    with pytest.raises(InputError, match="announced no size, but it holds .*run again to resume"):
        download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)
    assert not (tmp_path / TAR_NAME).exists()

    assert download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S).read_bytes() == server.payload
    assert server.ranges[-2:] == ["bytes=30000-", f"bytes={len(server.payload)}-"]  # resumed, then the 416


def test_empty_raw_folder_is_not_reused(serve, tmp_path, capsys):
    server = serve(build_tar(fake_gsm_files()))
    (tmp_path / "raw").mkdir()

    assert cli.main(["download", "--url", server.url, "--dest", str(tmp_path)]) == 2
    assert f"{tmp_path / 'raw'} holds no file" in one_error_line(capsys)
    assert server.ranges == []


def test_download_and_extraction_onto_a_full_disk_are_one_line(serve, full_disk, tmp_path, capsys):
    server = serve(build_tar({f"GSM{8325000 + i}_x_filtered_matrix.mtx.gz": bytes([i]) * 40_000 for i in range(3)}))

    assert cli.main(["download", "--url", server.url, "--dest", str(full_disk / "geo")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("lmna-scrna download: error:") and "No space left on device" in err[-1]

    tar_path = tmp_path / "ok.tar"
    tar_path.write_bytes(server.payload)
    with pytest.raises(InputError, match="cannot extract .*No space left") as err:
        safe_extract(tar_path, full_disk / "raw")
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler", "geo"]


# --------------------------------------------------------------------------- command line


def test_cli_download_prints_raw_folder(server, files, tmp_path, capsys):
    assert cli.main(["download", "--url", server.url, "--dest", str(tmp_path)]) == 0

    assert capsys.readouterr().out.strip() == str(tmp_path / "raw")
    assert tree(tmp_path / "raw") == files


def test_cli_download_404_is_one_line_naming_the_url(server, tmp_path, capsys):
    url = server.url.replace(TAR_NAME, "missing.tar")

    assert cli.main(["download", "--url", url, "--dest", str(tmp_path)]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and url in err[0] and "404" in err[0]


def test_cli_download_bad_url_is_one_line(tmp_path, capsys):
    assert cli.main(["download", "--url", "not a url", "--dest", str(tmp_path)]) == 2
    assert "not a url" in one_error_line(capsys)


def test_cli_download_dest_that_is_a_file_is_one_line(server_url, tmp_path, capsys):
    dest = tmp_path / "a_file"
    dest.write_text("x")

    assert cli.main(["download", "--url", server_url, "--dest", str(dest)]) == 2
    assert str(dest) in one_error_line(capsys)


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_dest_on_or_under_a_file_says_it_is_a_file(server, tmp_path, capsys, where):
    """It said "[Errno 17] File exists", as if the folder were there."""
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    dest = a_file if where == "file" else a_file / "geo"
    assert cli.main(["download", "--url", server.url, "--dest", str(dest)]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == f"lmna-scrna download: error: cannot write {dest / TAR_NAME}.part: {a_file} is a file, not a folder"
    assert a_file.read_text() == "keep" and sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
    assert server.ranges == []
