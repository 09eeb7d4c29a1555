"""Fetch GEO's GSE269705_RAW.tar (about 4.8 GB) and unpack it safely.

The download streams into a `.part` file that a later call resumes with an
HTTP Range request. The first reply's validators (ETag, Last-Modified, size)
are kept beside the `.part` and sent back as `If-Range`, so a file changed on
the server restarts from byte 0 instead of splicing two versions. Only a file
whose size matches what the server announced, or whose end the server
confirmed, gets its final name, so a file called `GSE269705_RAW.tar` is always
complete. A body that does not start like a tar (an HTML error page) is refused
before it touches the `.part`. A lock on the `.part` keeps two downloads into
one folder from both appending. The tar is then unpacked by
`extract.safe_extract`: all of it or nothing; a tar it refuses is moved aside,
so the next run downloads it afresh rather than failing on it again.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import logging
import os
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from ..atomic import make_parent, write_text_atomic
from ..errors import InputError, one_line
from .extract import RefusedArchive, safe_extract
from .http_range import Reply, reason, request

logger = logging.getLogger(__name__)

#: GEO's supplementary-files URL of the series' per-GSM 10x files.
GEO_RAW_URL = "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE269nnn/GSE269705/suppl/GSE269705_RAW.tar"
TAR_NAME = "GSE269705_RAW.tar"
#: Most bytes taken from the socket per write: big enough to keep Python overhead negligible.
CHUNK_BYTES = 1 << 20
#: Seconds any single connect or read may stall before the download gives up (resumable).
TIMEOUT_S = 60.0

#: Where a POSIX (ustar, GNU or pax) tar header holds its magic, in the first block of the file.
_TAR_MAGIC = (257, b"ustar")
_TAR_BLOCK = 512


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
    make_parent(part)
    try:
        out = part.open("ab", buffering=0)  # unbuffered: every chunk received is on disk
    except OSError as exc:
        raise InputError(f"cannot write {part}: {one_line(exc)}") from None
    with out:
        try:
            fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{part} is being written by another download; wait for it to finish") from None
        try:
            try:
                _fill(url, part, out, saved_path, timeout)
            except OSError as exc:  # writing the .part itself (a full disk): network errors are InputErrors
                raise InputError(f"cannot write {part}: {one_line(exc)}") from None
        except BaseException:
            if not os.fstat(out.fileno()).st_size:  # nothing to resume from: leave no empty file behind
                part.unlink(missing_ok=True)
                saved_path.unlink(missing_ok=True)
            raise
        os.replace(part, dest)
    saved_path.unlink(missing_ok=True)
    logger.info("downloaded %s", dest)
    return dest


def _fill(url: str, part: Path, out: BinaryIO, saved_path: Path, timeout: float) -> None:
    """Bring `part` (open as `out`, locked) to the whole file, checking its size and its end."""
    have = os.fstat(out.fileno()).st_size
    saved = _load_validators(saved_path) if have else None
    reply = _resume(url, have, saved, timeout)
    if reply.body is None:  # 416: nothing after the partial file; complete only if the sizes agree
        _check_size(url, part, reply.total)
        logger.info("%s already holds the whole file", part)
        return
    _log_start(url, have, reply)
    if reply.start == 0:  # a new file: only a tar may replace what the .part holds
        kept = f"; {part} ({have} bytes) is kept as it was" if have else ""
        head = _tar_head(url, reply, kept)
        if reply.validators is not None:
            write_text_atomic(saved_path, json.dumps(reply.validators))
        out.truncate(0)
        out.write(head)
    elif saved is None and reply.validators is not None:
        write_text_atomic(saved_path, json.dumps(reply.validators))
    _stream(url, reply, part, out)
    _confirm_end(url, part, _check_size(url, part, reply.total), reply.total is not None, timeout)


def _resume(url: str, have: int, saved: dict[str, str | int | None] | None, timeout: float) -> Reply:
    """Ask for the bytes after `have`, only if the file is still the one the `.part` came from.

    `If-Range` makes a server whose file changed answer 200 with the whole new
    file. A server that ignores it but announces another size than the saved
    one has changed the file too: then the download restarts from byte 0.
    """
    reply = request(url, have, timeout, if_range=_if_range(saved))
    if reply.status == 416 and reply.total is not None and reply.total > have:
        # It refuses a range it holds: asking again would loop; only the whole file can be had.
        logger.warning("%s refused bytes %d- of its %d bytes (HTTP 416): restarting from byte 0", url, have, reply.total)
        return request(url, 0, timeout)
    size = None if saved is None else saved.get("size")
    if have and reply.start and size is not None and reply.total is not None and reply.total != size:
        if reply.body is not None:
            reply.body.close()
        logger.warning("%s now holds %d bytes, not %s as when %d bytes were saved: restarting from byte 0",
                       url, reply.total, size, have)
        reply = request(url, 0, timeout)
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


def _tar_head(url: str, reply: Reply, kept: str) -> bytes:
    """The first block of a body that starts the file, refused unless it starts like a tar.

    Read before anything is written, so an HTML error page served with 200
    neither truncates a partial download nor replaces its validators.
    """
    assert reply.body is not None
    offset, magic = _TAR_MAGIC
    try:
        head = reply.body.read(_TAR_BLOCK)
    except (OSError, http.client.HTTPException) as exc:
        reply.body.close()
        raise InputError(f"{url}: transfer interrupted in its first block ({reason(exc)}){kept}") from None
    if len(head) < _TAR_BLOCK:  # the connection closed early: no verdict on what the file is
        reply.body.close()
        raise InputError(f"{url}: transfer interrupted in its first block (after {len(head)} bytes){kept}")
    if head[offset : offset + len(magic)] != magic:
        reply.body.close()
        raise InputError(f"{url}: the server sent something that is not a tar (it starts with {head[:40]!r}){kept}")
    return head


def fetch_raw(url: str, dest_dir: str | Path, *, timeout: float = TIMEOUT_S) -> Path:
    """Download the RAW tar into `dest_dir` and extract it to `dest_dir/raw`; return that folder.

    Idempotent: a finished `raw` folder is reused without touching the network,
    so the 4.8 GB tar may be deleted once extracted.
    """
    dest_dir = Path(dest_dir)
    raw_dir = dest_dir / "raw"
    if raw_dir.is_dir():
        if not any(p.is_file() for p in raw_dir.rglob("*")):  # an extraction always holds a file
            raise InputError(f"{raw_dir} holds no file, so it is no finished extraction; remove it and run again")
        logger.info("reusing %s (already extracted)", raw_dir)
        return raw_dir
    tar_path = download(url, dest_dir / TAR_NAME, timeout=timeout)
    try:
        return safe_extract(tar_path, raw_dir)
    except RefusedArchive as exc:
        aside = tar_path.with_name(tar_path.name + ".refused")
        os.replace(tar_path, aside)
        raise InputError(f"{exc}; moved the tar to {aside}, so the next run downloads it afresh") from None


def _log_start(url: str, have: int, reply: Reply) -> None:
    if have and reply.start == 0:
        logger.warning("%s changed since the partial download or ignored the Range request; restarting from byte 0", url)
    elif have:
        logger.info("resuming %s at byte %d", url, reply.start)
    else:
        logger.info("downloading %s", url)


def _stream(url: str, reply: Reply, part: Path, out: BinaryIO) -> None:
    """Append the rest of the reply's body to `part` (open as `out`, for appending).

    `read1` hands over whatever has arrived (up to a chunk), so bytes received
    before a stall or reset reach the disk and a later call need not fetch them again.
    """
    assert reply.body is not None
    try:
        with reply.body as body, tqdm(
            total=reply.total,
            initial=os.fstat(out.fileno()).st_size,
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
            f"{url}: transfer interrupted after {got} bytes ({reason(exc)}); run again to resume from {part}"
        ) from None


def _check_size(url: str, part: Path, total: int | None) -> int:
    """Compare the bytes on disk with the announced size; return the size."""
    size = part.stat().st_size
    if total is None:
        logger.info("%s announced no size; asking the server whether %d bytes are all of it", url, size)
    elif size < total:
        raise InputError(f"{url}: got {size} bytes but the server announced {total}; run again to resume from {part}")
    elif size > total:
        raise InputError(f"{url}: got {size} bytes but the server announced {total}; delete {part} and run again")
    return size


def _confirm_end(url: str, part: Path, size: int, announced: bool, timeout: float) -> None:
    """Ask for the bytes after `size`; only a 416 proves the file ends there.

    HTTP framing cannot reveal a Content-Length smaller than the file (the
    client stops reading where the header says), and a body of unknown length
    ends wherever the connection drops, so one tiny ranged request confirms
    the end before the file gets its final name. When the size was announced
    and the server ignores Range (200), there is nothing more to check; when
    it was not, nothing else can prove the file complete.
    """
    reply = request(url, size, timeout)
    if reply.body is not None:
        reply.body.close()
    if reply.status == 416 and reply.total == size:
        return
    found = "more" if reply.total is None else str(reply.total)
    if reply.status in (206, 416):
        got = "the bytes the server announced" if announced else "bytes of a reply that announced no size"
        raise InputError(f"{url}: got {size} {got}, but it holds {found} bytes; run again to resume from {part}")
    if not announced:
        raise InputError(
            f"{url}: got {size} bytes of a reply that announced no size, and the server ignores Range requests, "
            f"so nothing shows the file ends there; {part} is kept but cannot be confirmed complete"
        )
    logger.debug("%s ignores Range requests; cannot confirm the file ends at %d bytes", url, size)


