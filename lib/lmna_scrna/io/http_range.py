"""One ranged HTTP GET, its answer reduced to what a resumable download needs (`Reply`).

Kept apart from `geo`, which decides what to do with the answers: here only
the protocol, with every malformed or inconsistent reply turned into an
`InputError` naming the URL.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from .. import __version__
from ..errors import InputError, one_line

_USER_AGENT = f"lmna-scrna/{__version__} (+python urllib)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


@dataclass(frozen=True)
class Reply:
    """How the server answered one GET: the body still to read (None for 416),
    the file offset where that body starts, and the whole file's announced size."""

    status: int
    body: http.client.HTTPResponse | None
    start: int
    total: int | None
    validators: dict[str, str | int | None] | None = None  # ETag, Last-Modified, size (200/206 only)


def request(url: str, start: int, timeout: float, if_range: str | None = None) -> Reply:
    """GET `url` from byte `start` on and translate the answer into a `Reply`.

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
                return Reply(416, None, start, _unsatisfied_total(url, dict(exc.headers.items()), start))
            raise InputError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        finally:
            exc.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, timeouts, resets, bad URL
        raise InputError(f"{url}: cannot download ({reason(exc)})") from None
    if response.status != 206:
        total = _content_length(response.headers)
        return Reply(response.status, response, 0, total, _validators(response.headers, total))
    try:
        first, total = _partial_range(url, response.headers, start)
    except InputError:
        response.close()
        raise
    return Reply(206, response, first, total, _validators(response.headers, total))


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


def reason(exc: BaseException) -> str:
    """An exception as one short line (the CLI prints errors on one line)."""
    cause = getattr(exc, "reason", None) if isinstance(exc, urllib.error.URLError) else exc
    return one_line(cause) or type(exc).__name__
