"""Hardening of the GEO download and extraction (issue #11): each test fails without its fix.

Same real server on 127.0.0.1 as test_geo.py, with a handler that also sends
an ETag and honours If-Range, as GEO's servers do.
"""

from __future__ import annotations

import fcntl
import io
import logging
import tarfile
from collections.abc import Callable

import pytest
from test_geo import TIMEOUT_S, TarHandler, TarServer, build_tar, fake_gsm_files, files, serve  # noqa: F401

from lmna_scrna import cli
from lmna_scrna.errors import InputError
from lmna_scrna.io.extract import safe_extract
from lmna_scrna.io.geo import TAR_NAME, download, fetch_raw


class ValidatingHandler(TarHandler):
    """TarHandler plus an ETag per payload version and If-Range: a stale validator gets the whole file."""

    def do_GET(self) -> None:
        if_range = self.headers.get("If-Range")
        self.server.if_ranges.append(if_range)  # type: ignore[attr-defined]
        if if_range is not None and if_range != self._etag():
            del self.headers["Range"]
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("ETag", self._etag())
        super().end_headers()

    def _etag(self) -> str:
        return f'"v{hash(self.server.payload) & 0xFFFF:x}"'


@pytest.fixture
def validating(serve: Callable[[bytes], TarServer]) -> Callable[[bytes], TarServer]:
    def start(payload: bytes) -> TarServer:
        server = serve(payload)
        server.RequestHandlerClass = ValidatingHandler
        server.if_ranges = []  # type: ignore[attr-defined]
        return server

    return start


def many_member_tar(n: int = 36) -> bytes:
    return build_tar({f"GSM{8325000 + i}_x_filtered_barcodes.tsv.gz": bytes([i]) * 700 for i in range(n)})


# --- item 1: silent partial extraction ------------------------------------------------------


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


# --- item 2: resume validators, tar magic, lock ----------------------------------------------


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


def test_two_downloads_into_one_folder_cannot_both_append(serve, tmp_path):
    server = serve(build_tar(fake_gsm_files()))
    part = tmp_path / f"{TAR_NAME}.part"
    with part.open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running download holds
        with pytest.raises(InputError, match="being written by another download"):
            download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)
    assert server.ranges == []
    assert part.stat().st_size == 0


# --- item 5: one line and exit 2 instead of tracebacks ---------------------------------------


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_cli_download_bad_url_is_one_line(tmp_path, capsys):
    assert cli.main(["download", "--url", "not a url", "--dest", str(tmp_path)]) == 2
    assert "not a url" in one_error_line(capsys)


def test_cli_download_dest_that_is_a_file_is_one_line(server_url, tmp_path, capsys):
    dest = tmp_path / "a_file"
    dest.write_text("x")

    assert cli.main(["download", "--url", server_url, "--dest", str(dest)]) == 2
    assert str(dest) in one_error_line(capsys)


@pytest.fixture
def server_url(serve: Callable[[bytes], TarServer]) -> str:
    return serve(build_tar(fake_gsm_files())).url


def test_member_name_too_long_for_the_file_system_is_one_line(tmp_path):
    tar_path = tmp_path / "long.tar"
    tar_path.write_bytes(build_tar({"GSM8325046_" + "x" * 300 + "_filtered_matrix.mtx.gz": b"data"}))

    with pytest.raises(InputError, match="long.tar: cannot extract") as err:
        safe_extract(tar_path, tmp_path / "raw")
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.tar"]


# --- issue 15, item 3: truncated, duplicate or empty archives --------------------------------


def cut_before_third_header(payload: bytes) -> bytes:
    """The tar cut exactly where its third member's header starts: every member read is whole."""
    with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
        return payload[: tar.getmembers()[2].offset]


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


def test_empty_raw_folder_is_not_reused(serve, tmp_path, capsys):
    server = serve(build_tar(fake_gsm_files()))
    (tmp_path / "raw").mkdir()

    assert cli.main(["download", "--url", server.url, "--dest", str(tmp_path)]) == 2
    assert f"{tmp_path / 'raw'} holds no file" in one_error_line(capsys)
    assert server.ranges == []


# --- item 4: an HTML page on resume ------------------------------------------------------------


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


# --- item 5: a full disk --------------------------------------------------------------------------


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


# --- item 8: a 416 that would loop, and an empty .part -------------------------------------------


def test_416_for_a_range_inside_the_file_restarts_instead_of_looping(serve, tmp_path, caplog):
    server = serve(build_tar(fake_gsm_files()))
    (tmp_path / f"{TAR_NAME}.part").write_bytes(server.payload[:1000])
    server.refuse_ranges = True

    with caplog.at_level(logging.WARNING, logger="lmna_scrna.io.geo"):
        dest = download(server.url, tmp_path / TAR_NAME, timeout=TIMEOUT_S)

    assert dest.read_bytes() == server.payload
    assert any("refused bytes 1000-" in r.getMessage() for r in caplog.records)


def test_failed_download_leaves_no_empty_part(server_url, tmp_path):
    with pytest.raises(InputError, match="404"):
        download(server_url.replace(TAR_NAME, "missing.tar"), tmp_path / TAR_NAME, timeout=TIMEOUT_S)
    assert list(tmp_path.iterdir()) == []
