"""Whole-content digests of raw files, each computed once per version of the file.

A cache keyed by part of a file's bytes keeps old results after an edit in
the parts it skips, so raw files are identified by the SHA-256 of all their
bytes. Hashing a multi-GB study on every cache lookup would cost seconds, so
each digest is remembered in a small memo (``outputs/cache/file-digests.json``)
under the file's identity on disk: path, size, inode, device, and the
modification and change times in nanoseconds. Any write to a file changes its
ctime, which no user call can set back (``touch`` and ``os.utime`` set only the
mtime), so an in-place edit is hashed again even when size and mtime are kept;
a copy or a re-extraction (new inode) is hashed again too and, holding the same
bytes, gets the same digest.

A file changed within the kernel's timestamp granularity of its hashing could
keep its times, so (as git does with its index) a file whose times are less
than `SETTLE_SECONDS` old is hashed but not remembered. The memo is only a
shortcut: a damaged or unwritable memo is ignored and the files are hashed.
Inside `memo_untouched` (a report's dry run, which writes nothing) it is read but not saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from ..atomic import write_text_atomic
from ..errors import InputError, one_line
from ..paths import cache_dir

log = logging.getLogger(__name__)

#: Files whose mtime or ctime is younger than this when hashed are not remembered (racy timestamps).
SETTLE_SECONDS = 2.0
#: The memo's file name under the cache folder.
MEMO_NAME = "file-digests.json"


#: False inside `memo_untouched`: digests found are not saved.
_REMEMBER: ContextVar[bool] = ContextVar("remember_digests", default=True)


@contextmanager
def memo_untouched() -> Iterator[None]:
    """Read the memo but leave it as it is: for a caller that promises to write nothing (`report --dry-run`)."""
    token = _REMEMBER.set(False)
    try:
        yield
    finally:
        _REMEMBER.reset(token)


def memo_path() -> Path:
    """The digest memo, beside the per-GSM cache under the outputs folder."""
    return cache_dir() / MEMO_NAME


def content_digests(paths: Iterable[Path]) -> list[str]:
    """SHA-256 (hex) of each file's whole content, in order; from the memo where the file is unchanged.

    Unreadable files raise InputError naming the file.
    """
    memo, new = _load_memo(), {}
    started = time.time()
    digests = []
    for path in paths:
        try:
            stat = path.stat()
            key, identity = str(path.resolve()), _identity(stat)
            entry = memo.get(key)
            if entry is not None and entry[:-1] == identity:
                digests.append(entry[-1])
                continue
            with path.open("rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as exc:
            raise InputError(f"cannot fingerprint {path}: {one_line(exc)}") from None
        digests.append(digest)
        if started - max(stat.st_mtime, stat.st_ctime) >= SETTLE_SECONDS:
            new[key] = [*identity, digest]
    if new and _REMEMBER.get():  # merged into the memo as it is now: another process may have saved entries meanwhile
        _save_memo(_load_memo() | new)
    return digests


def _identity(stat: os.stat_result) -> list[int]:
    """What changes whenever a file's bytes may have: size, inode, device, mtime and ctime (ns)."""
    return [stat.st_size, stat.st_ino, stat.st_dev, stat.st_mtime_ns, stat.st_ctime_ns]


def _load_memo() -> dict[str, list]:
    """The memo's well-formed entries; a missing, damaged or unreadable memo is an empty one."""
    try:
        raw = json.loads(memo_path().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        k: v for k, v in raw.items()
        if isinstance(v, list) and len(v) == 6 and all(type(x) is int for x in v[:5]) and isinstance(v[5], str)
    }


def _save_memo(memo: dict[str, list]) -> None:
    """Write the memo atomically, keeping only entries that still describe their file (it never grows stale)."""
    live = {}
    for key, entry in memo.items():
        try:
            if _identity(os.stat(key)) == entry[:-1]:
                live[key] = entry
        except OSError:
            continue
    try:
        write_text_atomic(memo_path(), json.dumps(live, indent=0, sort_keys=True))
    except InputError as exc:  # a read-only or full outputs folder: next time the files are hashed again
        log.debug("digest memo not saved: %s", exc)


def file_fingerprint(paths: Iterable[str | Path]) -> str:
    """A content identity of input files, for cache keys: each file's name and the SHA-256 of all its bytes.

    An edit anywhere in a file changes it, even one that keeps the size and
    the mtime; a copy or re-extraction of the same bytes (other folder, other
    mtime) keeps it. Each file is read whole only the first time it is seen in
    a given state: `content_digests` remembers the digest under the file's
    size, inode and times. Files are hashed in the order given.
    """
    files = [Path(p) for p in paths]
    digest = hashlib.sha256()
    for path, content in zip(files, content_digests(files)):
        digest.update(f"{path.name}\0{content}\0".encode())
    return digest.hexdigest()
