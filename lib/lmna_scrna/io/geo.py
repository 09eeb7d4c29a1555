"""Fetch GEO's GSE269705_RAW.tar (about 4.8 GB) and unpack it safely.

The download streams into a `.part` file that a later call resumes with an
HTTP Range request. The first reply's validators (ETag, Last-Modified, size)
are kept beside the `.part` and sent back as `If-Range`, so a file changed on
the server restarts from byte 0 instead of splicing two versions. Only a file
whose size matches what the server announced and that starts like a tar gets
its final name, so a file called `GSE269705_RAW.tar` is always complete. A lock
on the `.part` keeps two downloads into one folder from both appending.
The tar is then unpacked by `extract.safe_extract`: all of it or nothing.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from .. import __version__
from ..atomic import write_text_atomic
from ..errors import InputError, one_line
from .extract import safe_extract

logger = logging.getLogger(__name__)

#: GEO's supplementary-files URL of the series' per-GSM 10x files.
GEO_RAW_URL = "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE269nnn/GSE269705/suppl/GSE269705_RAW.tar"
TAR_NAME = "GSE269705_RAW.tar"
#: Most bytes taken from the socket per write: big enough to keep Python overhead negligible.
CHUNK_BYTES = 1 << 20
#: Seconds any single connect or read may stall before the download gives up (resumable).
TIMEOUT_S = 60.0

_USER_AGENT = f"lmna-scrna/{__version__} (+python urllib)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")
#: Where a POSIX (ustar, GNU or pax) tar header holds its magic.
_TAR_MAGIC = (257, b"ustar")


@dataclass(frozen=True)
class _Reply:
    """How the server answered one GET: the body still to read (None for 416),
    the file offset where that body starts, and the whole file's announced size."""

    status: int
    body: http.client.HTTPResponse | None
    start: int
    total: int | None
    validators: dict[str, str | int | None] | None = None  # ETag, Last-Modified, size (200/206 only)


def download(url: str, dest_file: str | Path, *, timeout: float = TIMEOUT_S) -> Path:
    """Download `url` to `dest_file`, resuming an earlier partial transfer.

    An existing `dest_file` is reused as is: it was only ever created by a
    size-checked rename. On a short or inconsistent transfer the `.part` file
    stays (a later call resumes from it) and InputError names the URL and sizes.
    """
    dest = Path(dest_file)
    if dest.is_file():
        logger.info("reusing %s (already downloaded)", dest)
        return dest
    part = dest.with_suffix(dest.suffix + ".part")
    saved_path = part.with_suffix(".part.json")
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
        out = part.open("ab", buffering=0)  # unbuffered: every chunk received is on disk
    except OSError as exc:
        raise InputError(f"cannot write {part}: {one_line(exc)}") from None
    with out:
        try:
            fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{part} is being written by another download; wait for it to finish") from None
        have = os.fstat(out.fileno()).st_size
        saved = _load_validators(saved_path) if have else None
        reply = _resume(url, have, saved, timeout)
        if reply.body is None:  # 416: nothing after the partial file; complete only if the sizes agree
            _check_size(url, part, reply.total)
            logger.info("%s already holds the whole file", part)
        else:
            _log_start(url, have, reply)
            if reply.validators is not None and (reply.start == 0 or saved is None):
                write_text_atomic(saved_path, json.dumps(reply.validators))
            _stream(url, reply, part, out)
            _confirm_end(url, _check_size(url, part, reply.total), timeout)
        _check_tar_magic(url, part, saved_path)
        os.replace(part, dest)
    saved_path.unlink(missing_ok=True)
    logger.info("downloaded %s", dest)
    return dest


def _resume(url: str, have: int, saved: dict[str, str | int | None] | None, timeout: float) -> _Reply:
    """Ask for the bytes after `have`, only if the file is still the one the `.part` came from.

    `If-Range` makes a server whose file changed answer 200 with the whole new
    file. A server that ignores it but announces another size than the saved
    one has changed the file too: then the download restarts from byte 0.
    """
    reply = _request(url, have, timeout, if_range=_if_range(saved))
    size = None if saved is None else saved.get("size")
    if have and reply.start and size is not None and reply.total is not None and reply.total != size:
        if reply.body is not None:
            reply.body.close()
        logger.warning("%s now holds %d bytes, not %s as when %d bytes were saved: restarting from byte 0",
                       url, reply.total, size, have)
        reply = _request(url, 0, timeout)
    return reply


def _if_range(saved: dict[str, str | int | None] | None) -> str | None:
    """The validator to send as If-Range: a strong ETag, else Last-Modified (weak ETags are not allowed)."""
    if saved is None:
        return None
    etag = saved.get("etag")
    if isinstance(etag, str) and not etag.startswith("W/"):
        return etag
    modified = saved.get("last_modified")
    return modified if isinstance(modified, str) else None


def _load_validators(path: Path) -> dict[str, str | int | None] | None:
    """The validators saved beside a `.part` (None if absent or unreadable: then resume unchecked)."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def _check_tar_magic(url: str, part: Path, saved_path: Path) -> None:
    """Refuse a body that is not a tar (an HTML error page served with 200), and drop it.

    Resuming such a file could never give the tar, so it is removed rather than kept.
    """
    offset, magic = _TAR_MAGIC
    with part.open("rb") as fh:
        head = fh.read(offset + len(magic))
    if head[offset:] == magic:
        return
    part.unlink()
    saved_path.unlink(missing_ok=True)
    raise InputError(f"{url}: the server sent something that is not a tar (it starts with {head[:40]!r})")


def fetch_raw(url: str, dest_dir: str | Path, *, timeout: float = TIMEOUT_S) -> Path:
    """Download the RAW tar into `dest_dir` and extract it to `dest_dir/raw`; return that folder.

    Idempotent: a finished `raw` folder is reused without touching the network,
    so the 4.8 GB tar may be deleted once extracted.
    """
    dest_dir = Path(dest_dir)
    raw_dir = dest_dir / "raw"
    if raw_dir.is_dir():
        logger.info("reusing %s (already extracted)", raw_dir)
        return raw_dir
    return safe_extract(download(url, dest_dir / TAR_NAME, timeout=timeout), raw_dir)


def _request(url: str, start: int, timeout: float, if_range: str | None = None) -> _Reply:
    """GET `url` from byte `start` on and translate the answer into a `_Reply`.

    A 206 must start exactly at `start` (anything else would splice wrong
    bytes into the file); a 416 means the server has nothing at or after `start`.
    """
    headers = {"User-Agent": _USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
        if if_range is not None:
            headers["If-Range"] = if_range
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        try:
            if exc.code == 416 and start:
                return _Reply(416, None, start, _unsatisfied_total(url, exc.headers, start))
            raise InputError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        finally:
            exc.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, timeouts, resets, bad URL
        raise InputError(f"{url}: cannot download ({_one_line(exc)})") from None
    if response.status != 206:
        total = _content_length(response.headers)
        return _Reply(response.status, response, 0, total, _validators(response.headers, total))
    try:
        first, total = _partial_range(url, response.headers, start)
    except InputError:
        response.close()
        raise
    return _Reply(206, response, first, total, _validators(response.headers, total))


def _validators(headers: Mapping[str, str], total: int | None) -> dict[str, str | int | None]:
    """What identifies this version of the file: kept beside the `.part` to check a resume against."""
    return {"etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified"), "size": total}


def _partial_range(url: str, headers: Mapping[str, str], start: int) -> tuple[int, int | None]:
    """Parse a 206's Content-Range into (first byte, file size); the size may be unknown ("*")."""
    value = headers.get("Content-Range", "")
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if match is None:
        raise InputError(f"{url}: partial reply without a usable Content-Range ({value!r})")
    first = int(match[1])
    if first != start:
        raise InputError(f"{url}: asked for bytes from {start} but the server sent bytes from {first}")
    if match[3] != "*":
        return first, int(match[3])
    length = _content_length(headers)
    return first, None if length is None else first + length


def _unsatisfied_total(url: str, headers: Mapping[str, str], start: int) -> int:
    """The file size a 416 announces; without it a partial file could not be told complete."""
    value = headers.get("Content-Range", "")
    match = _UNSATISFIED_RANGE.fullmatch(value.strip())
    if match is None:
        raise InputError(f"{url}: HTTP 416 for bytes {start}- without the file size ({value!r})")
    return int(match[1])


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length")
    return int(value) if value is not None and value.strip().isdigit() else None


def _log_start(url: str, have: int, reply: _Reply) -> None:
    if have and reply.start == 0:
        logger.warning("%s changed since the partial download or ignored the Range request; restarting from byte 0", url)
    elif have:
        logger.info("resuming %s at byte %d", url, reply.start)
    else:
        logger.info("downloading %s", url)


def _stream(url: str, reply: _Reply, part: Path, out: BinaryIO) -> None:
    """Write the reply's body into `part` (open as `out`, for appending) from `reply.start` on.

    A restart from 0 truncates the partial file; a resumed reply appends to it.
    `read1` hands over whatever has arrived (up to a chunk), so bytes received
    before a stall or reset reach the disk and a later call need not fetch them again.
    """
    assert reply.body is not None
    try:
        if not reply.start:
            out.truncate(0)
        with reply.body as body, tqdm(
            total=reply.total,
            initial=reply.start,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name,
            mininterval=0.5,
        ) as bar:
            while chunk := body.read1(CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as exc:
        got = part.stat().st_size if part.is_file() else 0
        raise InputError(
            f"{url}: transfer interrupted after {got} bytes ({_one_line(exc)}); run again to resume from {part}"
        ) from None


def _check_size(url: str, part: Path, total: int | None) -> int:
    """Compare the bytes on disk with the announced size; return the size."""
    size = part.stat().st_size
    if total is None:
        logger.warning("%s announced no size; cannot check the %d bytes received", url, size)
    elif size < total:
        raise InputError(f"{url}: got {size} bytes but the server announced {total}; run again to resume from {part}")
    elif size > total:
        raise InputError(f"{url}: got {size} bytes but the server announced {total}; delete {part} and run again")
    return size


def _confirm_end(url: str, size: int, timeout: float) -> None:
    """Ask for the bytes after `size`; only a 416 proves the file ends there.

    HTTP framing cannot reveal a Content-Length smaller than the file (the
    client stops reading where the header says), so one tiny ranged request
    confirms the end before the file gets its final name. A server that
    ignores Range answers 200; then there is nothing more to check.
    """
    if size == 0:
        return
    reply = _request(url, size, timeout)
    if reply.body is not None:
        reply.body.close()
    if reply.status == 206 or (reply.status == 416 and reply.total != size):
        found = "more" if reply.total is None else str(reply.total)
        raise InputError(f"{url}: got the {size} bytes the server announced, but it holds {found} bytes")
    if reply.status != 416:
        logger.debug("%s ignores Range requests; cannot confirm the file ends at %d bytes", url, size)


def _one_line(exc: BaseException) -> str:
    """An exception as one short line (the CLI prints errors on one line)."""
    reason = getattr(exc, "reason", None) if isinstance(exc, urllib.error.URLError) else exc
    return one_line(reason) or type(exc).__name__
