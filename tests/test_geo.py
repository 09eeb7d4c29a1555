"""GEO download and extraction against a real HTTP server on 127.0.0.1.

The server runs in a daemon thread and serves an in-memory tar of fake per-GSM
files with Range support; switches on the server make it cut the connection,
ignore or misplace ranges, or lie about the length, so the client's resume and
size checks are exercised over real sockets, not mocks.
"""

from __future__ import annotations

import gzip
import io
import random
import socket
import tarfile
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lmna_scrna import cli
from lmna_scrna.errors import InputError
from lmna_scrna.io.extract import safe_extract
from lmna_scrna.io.geo import TAR_NAME, download, fetch_raw

TIMEOUT_S = 5.0

FAKE_FILES = {
    "GSM8325046_Control_day0A_filtered_matrix.mtx.gz": 40_000,
    "GSM8325046_Control_day0A_filtered_barcodes.tsv.gz": 3_000,
    "GSM8325054_Patient_day0A_filtered_features.tsv.gz": 20_000,
}


def fake_gsm_files() -> dict[str, bytes]:
    """Small gzip files named like GEO's, with incompressible content so the tar is ~60 kB."""
    rng = random.Random(0)
    return {name: gzip.compress(rng.randbytes(size), mtime=0) for name, size in FAKE_FILES.items()}


def build_tar(files: dict[str, bytes], extra: Sequence[tarfile.TarInfo] = ()) -> bytes:
    """An uncompressed tar like GEO's RAW tar: flat files, then any `extra` (hostile) members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return buf.getvalue()


class TarServer(ThreadingHTTPServer):
    """Serves `payload` at /GSE269705_RAW.tar and records every Range header it sees."""

    def __init__(self, payload: bytes) -> None:
        super().__init__(("127.0.0.1", 0), TarHandler)
        self.payload = payload
        self.ranges: list[str | None] = []
        self.cut_after: int | None = None  # send only this many body bytes, once
        self.length_delta = 0  # added to the true Content-Length (a lie when non-zero)
        self.ignore_range = False  # answer 200 with the whole file to a Range request
        self.range_shift = 0  # announce (and claim to send) a range starting elsewhere
        self.stall_after: int | None = None  # send this many body bytes, then go silent
        self.send_length = True  # False: no Content-Length, the body ends when the connection closes
        self.refuse_ranges = False  # answer 416 to every Range request, even one inside the file
        self.release = threading.Event()  # ends a stall (set when the test ends)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/{TAR_NAME}"

    def handle_error(self, request: object, client_address: object) -> None:
        """The client hanging up on a 200 it does not want is expected, not a test failure."""


class TarHandler(BaseHTTPRequestHandler):
    timeout = TIMEOUT_S  # a stuck client cannot hold a handler thread for long
    server: TarServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        srv = self.server
        header = self.headers.get("Range")
        srv.ranges.append(header)
        if self.path != f"/{TAR_NAME}":
            self.send_error(404)
            return
        data = srv.payload
        start = int(header.removeprefix("bytes=").rstrip("-")) if header and not srv.ignore_range else None
        if start is not None and (start >= len(data) or srv.refuse_ranges):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if start is None:
            body = data
            self.send_response(200)
        else:
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start + srv.range_shift}-{len(data) - 1}/{len(data)}")
        if srv.send_length:
            self.send_header("Content-Length", str(len(body) + srv.length_delta))
        self.end_headers()
        if srv.cut_after is not None:
            body, srv.cut_after = body[: srv.cut_after], None
        if srv.stall_after is not None:
            self.wfile.write(body[: srv.stall_after])
            self.wfile.flush()
            srv.release.wait(TIMEOUT_S)
            return
        self.wfile.write(body)


@pytest.fixture
def files() -> dict[str, bytes]:
    return fake_gsm_files()


@pytest.fixture
def serve() -> Iterator[Callable[[bytes], TarServer]]:
    """Start TarServers on demand; every one is shut down when the test ends."""
    started: list[tuple[TarServer, threading.Thread]] = []

    def start(payload: bytes) -> TarServer:
        server = TarServer(payload)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT_S)


@pytest.fixture
def server(serve: Callable[[bytes], TarServer], files: dict[str, bytes]) -> TarServer:
    return serve(build_tar(files))


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- download ------------------------------------------------------------------------------


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


# --- extraction ----------------------------------------------------------------------------


def hostile_member(kind: str, outside: Path) -> tarfile.TarInfo:
    """One member that would write outside the folder or is not plain data."""
    if kind == "dotdot":
        info = tarfile.TarInfo("../evil")
    elif kind == "absolute":
        info = tarfile.TarInfo(str(outside / "abs_evil"))
    elif kind == "symlink":
        info = tarfile.TarInfo("GSM8325047_link_filtered_matrix.mtx.gz")
        info.type, info.linkname = tarfile.SYMTYPE, str(outside / "target")
    elif kind == "hardlink":
        info = tarfile.TarInfo("hard")
        info.type, info.linkname = tarfile.LNKTYPE, "GSM8325046_Control_day0A_filtered_matrix.mtx.gz"
    else:
        info = tarfile.TarInfo("pipe")
        info.type = tarfile.FIFOTYPE
        return info
    if info.isfile():
        info.size = 4
    return info


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


def test_hostile_tar_downloaded_then_refused(serve, files, tmp_path):
    server = serve(build_tar(files, [hostile_member("dotdot", tmp_path)]))
    dest = tmp_path / "dest"

    with pytest.raises(InputError, match=r"refusing member '\.\./evil'.*moved the tar to .*\.refused"):
        fetch_raw(server.url, dest, timeout=TIMEOUT_S)

    assert sorted(p.name for p in dest.iterdir()) == [f"{TAR_NAME}.refused"]  # a re-run starts clean
    assert not (tmp_path / "evil").exists()


def test_corrupt_tar_names_the_file(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar" * 100)

    with pytest.raises(InputError, match="bad.tar: unreadable tar"):
        safe_extract(bad, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


# --- command line --------------------------------------------------------------------------


def test_cli_download_prints_raw_folder(server, files, tmp_path, capsys):
    assert cli.main(["download", "--url", server.url, "--dest", str(tmp_path)]) == 0

    assert capsys.readouterr().out.strip() == str(tmp_path / "raw")
    assert tree(tmp_path / "raw") == files


def test_cli_download_404_is_one_line_naming_the_url(server, tmp_path, capsys):
    url = server.url.replace(TAR_NAME, "missing.tar")

    assert cli.main(["download", "--url", url, "--dest", str(tmp_path)]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and url in err[0] and "404" in err[0]
