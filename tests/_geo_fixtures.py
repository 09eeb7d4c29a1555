"""A real HTTP server on 127.0.0.1 serving GEO-like tars, for the download and extraction tests.

The server runs in a daemon thread and serves an in-memory tar of fake per-GSM
files with Range support; switches on the server make it cut the connection,
ignore or misplace ranges, or lie about the length, so the client's resume and
size checks are exercised over real sockets, not mocks. `ValidatingHandler` also
sends an ETag and honours If-Range, as GEO's servers do. The fixtures are
registered in conftest.py.
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lmna_scrna.io.geo import TAR_NAME

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


@pytest.fixture
def server_url(serve: Callable[[bytes], TarServer]) -> str:
    return serve(build_tar(fake_gsm_files())).url
