"""Atomic file output: a result either exists complete or not at all.

An interrupted or failed run must never leave a half-written file that looks
finished, nor destroy the previous good result, so every writer goes through
`atomic_path`: write to a temp name beside the target, then `os.replace`.
Folders are built in a `temp_dir` and renamed. Temp names are hidden and carry
the writer's host and PID, so the next writer of the same target removes what
a killed one on this host (SIGKILL skips every clean-up) left behind, but never
a live writer's, nor any other host's.
"""

from __future__ import annotations

import fcntl
import glob
import io
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError, one_line

if TYPE_CHECKING:
    import h5py

log = logging.getLogger(__name__)

#: Environment variable naming a file where a process lists every result it publishes. The report's runner
#: sets it for each notebook it executes, so the ledger can later tell whether those results are still the
#: ones on disk (a notebook run by hand may have replaced them); unset, nothing is listed.
WRITES_ENV = "LMNA_WRITES_LOG"


def note_published(path: str | Path) -> None:
    """Add `path` (a file or a folder just swapped in whole) to the list `WRITES_ENV` names, if any."""
    listing = os.environ.get(WRITES_ENV)
    if listing:
        with open(listing, "a", encoding="utf-8") as out:
            out.write(f"{Path(path).absolute()}\n")


@contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; move it onto `target` only on success.

    The temp name keeps the target's suffix (or `suffix`) because some writers
    (anndata, matplotlib, keras) choose the format from it. A target that
    cannot be written (a folder, under a file, a full disk) raises InputError
    naming it, so the CLI prints one line.
    """
    target = Path(target)
    if target.is_dir():
        raise InputError(f"cannot write {target}: it is a folder")
    ext = suffix if suffix is not None else target.suffix
    make_parent(target)
    try:
        remove_stale_temps(target)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=f".part{ext}", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {one_line(exc)}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the result the permissions of a normally created file.
        tmp_path.chmod(0o666 & ~_umask())
        os.replace(tmp_path, target)
        note_published(target)
    except OSError as exc:  # a full disk or quota while writing: the target is left as it was
        raise InputError(f"cannot write {target}: {one_line(exc)}") from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def make_parent(target: str | Path) -> Path:
    """Create `target`'s folder (and its parents); return it.

    A file standing where a folder is needed is named as such, not as the
    system's "File exists" or "Not a directory".
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = next((p for p in (target.parent, *target.parent.parents) if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is a file, not a folder" if blocker is not None else one_line(exc)
        raise InputError(f"cannot write {target}: {reason}") from None
    except OSError as exc:
        raise InputError(f"cannot write {target}: {one_line(exc)}") from None
    return target.parent


def temp_dir(target: str | Path) -> Path:
    """A new hidden folder beside `target` to build it in, then rename; a killed writer's are removed first.

    It gets the permissions of a normally created folder (mkdtemp makes it
    private), since it becomes an ordinary data folder.
    """
    target = Path(target)
    make_parent(target)
    try:
        remove_stale_temps(target)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".part", dir=target.parent))
        tmp.chmod(0o777 & ~_umask())
    except OSError as exc:  # under a file, read-only, full
        raise InputError(f"cannot write {target}: {one_line(exc)}") from None
    return tmp


def remove_stale_temps(target: str | Path) -> None:
    """Remove the temp files and folders of `target` left by writers on this host that no longer run."""
    target = Path(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.{re.escape(_host())}-(\d+)\.\w+\.part.*")
    for path in target.parent.glob(f".{glob.escape(target.name)}.*"):
        match = pattern.fullmatch(path.name)
        if match is None or _running(int(match[1])):
            continue
        log.info("removing %s, left by a killed run", path)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{_host()}-{os.getpid()}."


def _host() -> str:
    """This machine's name as a file-name word: a PID means nothing on another host sharing the folder."""
    return re.sub(r"\W", "_", socket.gethostname())


def _running(pid: int) -> bool:
    """Whether process `pid` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _umask() -> int:
    """The process umask (only readable by setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def hdf5_atomic(target: str | Path) -> Iterator[h5py.File]:
    """Yield an HDF5 file built in memory; write it to `target` atomically once it is complete.

    libhdf5 cannot recover from a failed write: after a full disk its next
    close crashes the interpreter (exit 139). Built in memory, the file meets
    the disk only through ordinary writes, whose failure is a plain OSError,
    for the price of holding one copy of the file in memory.
    """
    import h5py  # only the writers of HDF5 files pay for the import

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        yield f
    with atomic_path(target) as tmp:
        tmp.write_bytes(buffer.getbuffer())


@contextmanager
def hdf5_on_disk(target: str | Path, size_bytes: int) -> Iterator[h5py.File]:
    """Yield an HDF5 file written straight to disk, moved onto `target` once it is complete.

    For a file too large to hold in memory beside the data it is built from (a
    processed split: its image was a prepare's largest allocation). libhdf5
    cannot recover from a failed write, so the folder's free space is checked
    for `size_bytes` first: a disk that is too small is one error naming both
    figures before anything is written. Only a disk that another process fills
    during the write can still reach libhdf5's failure; `hdf5_atomic` is the
    writer for files small enough to build in memory.
    """
    import h5py

    with atomic_path(target) as tmp:
        free = shutil.disk_usage(tmp.parent).free
        if free < size_bytes:
            raise InputError(
                f"cannot write {target}: No space left on device for it: about {size_bytes / 2**20:.0f} MiB "
                f"needed, {free / 2**20:.0f} MiB free in {tmp.parent}"
            )
        with h5py.File(tmp, "w") as f:
            yield f


def write_text_atomic(target: str | Path, text: str) -> Path:
    """Write a small text file (JSON, CSV, YAML) atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return Path(target)


@contextmanager
def exclusive(lock_path: str | Path, refuse: str | None = None, busy: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (created if absent), and remove the file on release.

    By default a second holder waits. With `refuse` (what the lock guards, in
    words) it is refused at once with an InputError naming the holder; `busy`
    replaces that message (``{holder}`` in it names the holder). The lock is an
    flock, so a killed holder releases it with its process. A lock that cannot
    be created or written (a full disk) is one InputError naming it, and leaves
    no lock file behind.
    """
    lock_path = Path(lock_path)
    make_parent(lock_path)
    try:
        fd = _lock(lock_path, blocking=not refuse)
    except OSError as exc:  # read-only, under a file, a name too long, no inode left
        raise InputError(f"cannot write {lock_path}: {one_line(exc)}") from None
    if fd is None:
        raise _busy(str(refuse), lock_path, busy)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"host {_host()}, PID {os.getpid()}".encode(), 0)
    except OSError as exc:  # a full disk: the holder's name is a write like any other
        _release(lock_path, fd)
        raise InputError(f"cannot write {lock_path}: {one_line(exc)}") from None
    try:
        yield
    finally:
        _release(lock_path, fd)


def _lock(lock_path: Path, blocking: bool) -> int | None:
    """An open descriptor of `lock_path`, flocked; None if held by another and not `blocking`.

    A waiter may lock a file its holder has just removed, so after locking the
    path is checked to still name the locked file; if not, locking starts over.
    """
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:  # Ctrl-C while waiting
            os.close(fd)
            raise
        try:
            if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _release(lock_path: Path, fd: int) -> None:
    """Remove a held lock file, then unlock it: still locked, no one can take the removed file for the live one."""
    lock_path.unlink(missing_ok=True)
    os.close(fd)


def _busy(what: str, lock_path: Path, busy: str | None = None) -> InputError:
    """The refusal of a second writer, naming the holder as it wrote itself into the lock file."""
    try:
        with open(lock_path, "rb") as fh:
            holder = fh.read(64).decode(errors="replace").strip() or "unknown"
    except OSError:
        holder = "unknown"
    if busy:
        return InputError(busy.format(holder=holder))
    return InputError(f"{what} is being written by another process ({holder}); wait for it to finish, or use another name")


def remove_unheld(lock_path: str | Path) -> None:
    """Remove `lock_path` if no process holds it: a lock file left by a killed holder (SIGKILL skips clean-up).

    Taken first, so a live holder's file is never removed; a missing file is fine.
    """
    lock_path = Path(lock_path)
    try:
        fd = _lock(lock_path, blocking=False) if lock_path.exists() else None
    except OSError:
        return
    if fd is not None:
        _release(lock_path, fd)


def writer_lock(target: str | Path) -> Path:
    """The hidden lock file of `target`'s writer (`sole_writer`)."""
    target = Path(target)
    return target.parent / f".{target.name}.lock"


def refuse_if_written(target: str | Path, what: str) -> None:
    """Raise `sole_writer`'s refusal now if `target`'s writer lock is held, without taking it.

    For a command that would spend long on imports before reaching the lock;
    the lock itself is still taken (and checked again) by `sole_writer`.
    """
    lock_path = writer_lock(target)
    if not lock_path.exists():
        return
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _busy(what, lock_path) from None
    finally:
        os.close(fd)


def sole_writer(target: str | Path, what: str) -> AbstractContextManager[None]:
    """`target`'s writer lock (a hidden file beside it), refused at once when held: two writers of one result
    lose both, so the second is told who holds it instead of waiting or deleting the first one's work."""
    return exclusive(writer_lock(target), refuse=what)
