"""Unpack a tar from the network safely: all of it or nothing, and nothing outside the target folder.

Every member is checked before anything is written (no absolute path, no
`..`, no link, device or fifo), the archive must be read to its end (a damaged
header would otherwise end it early, silently), and it is unpacked into a
temp folder that is renamed only once finished, so a folder called `raw` is
always a complete extraction.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ..atomic import temp_dir
from ..errors import InputError, one_line
from ..paths import require_file

logger = logging.getLogger(__name__)

#: Bytes read at a time when checking that only zero padding follows the last member.
CHUNK_BYTES = 1 << 20
#: A tar ends with two zero blocks: without them the file may have been cut between two members.
END_MARKER_BYTES = 2 * tarfile.BLOCKSIZE


class RefusedArchive(InputError):
    """The archive itself is at fault (cut short, damaged, hostile, empty): fetching it again may help."""


def safe_extract(tar_path: str | Path, out_dir: str | Path) -> Path:
    """Extract `tar_path` into the new folder `out_dir`, refusing unsafe members.

    All members are validated before anything is written, so a hostile tar
    leaves no trace; tarfile's "data" filter is a second guard, not the only
    one. Member paths are kept, so GEO's flat per-GSM files land flat in `out_dir`.
    """
    tar_path, out_dir = require_file(tar_path, "tar file"), Path(out_dir)
    if out_dir.exists():
        raise InputError(f"{out_dir} already exists; remove it to extract {tar_path} again")
    try:
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
            _check_read_to_end(tar, members, tar_path)
            _check_members(members, tar_path)
            _extract_via_temp(tar, members, out_dir)
    except (tarfile.TarError, EOFError) as exc:
        raise RefusedArchive(f"{tar_path}: unreadable tar ({one_line(exc) or type(exc).__name__})") from None
    except OSError as exc:  # a name too long for the file system, a full disk, a read-only folder
        raise InputError(f"{tar_path}: cannot extract into {out_dir} ({one_line(exc) or type(exc).__name__})") from None
    logger.info("extracted %d members of %s into %s", len(members), tar_path.name, out_dir)
    return out_dir


def _check_read_to_end(tar: tarfile.TarFile, members: list[tarfile.TarInfo], tar_path: Path) -> None:
    """Require the member list to reach the archive's end marker: only zero padding may follow.

    tarfile stops listing at the first damaged header after the first one, and
    at the end of a file cut between two members, and reports no error, so a
    corrupt or truncated tar would otherwise extract its first few files as if
    they were all of it.
    """
    if not any(m.isfile() for m in members):
        raise RefusedArchive(f"{tar_path}: the tar holds no files ({len(members)} folder(s) only)")
    assert tar.fileobj is not None
    tar.fileobj.seek(tar.offset)
    zeros = 0
    while chunk := tar.fileobj.read(CHUNK_BYTES):
        if chunk.count(0) != len(chunk):
            raise RefusedArchive(
                f"{tar_path}: damaged member header at byte {tar.offset}, after {len(members)} member(s) "
                f"(the last read was {members[-1].name!r}); nothing was extracted"
            )
        zeros += len(chunk)
    if zeros < END_MARKER_BYTES:
        raise RefusedArchive(
            f"{tar_path}: ends at byte {tar.offset} without the end-of-archive marker, after {len(members)} "
            f"member(s) (the last read was {members[-1].name!r}): the file is cut short; nothing was extracted"
        )


def _check_members(members: list[tarfile.TarInfo], tar_path: Path) -> None:
    """Refuse unsafe members, and a name given twice (extracting both would silently keep the second)."""
    seen: set[str] = set()
    for member in members:
        _check_member(member, tar_path)
        name = str(PurePosixPath(member.name))  # "./a" and "a//b" name "a" and "a/b"
        if name in seen:
            raise RefusedArchive(f"{tar_path}: member {name!r} occurs twice; nothing was extracted")
        seen.add(name)


def _check_member(member: tarfile.TarInfo, tar_path: Path) -> None:
    """Refuse a member that could write outside the folder or is not plain data."""
    path = PurePosixPath(member.name)
    if path.is_absolute():
        problem = "has an absolute path"
    elif ".." in path.parts:
        problem = "has a '..' component"
    elif member.issym() or member.islnk():
        problem = f"is a link (to {member.linkname!r})"
    elif not (member.isfile() or member.isdir()):
        problem = "is a device, fifo or other special file"
    else:
        return
    raise RefusedArchive(f"{tar_path}: refusing member {member.name!r}: it {problem}; nothing was extracted")


def _extract_via_temp(tar: tarfile.TarFile, members: list[tarfile.TarInfo], out_dir: Path) -> None:
    """Extract into a hidden temp folder beside `out_dir`, then rename it into place.

    An interrupted extraction leaves only the temp folder (removed on any
    exception), never a half-filled `out_dir` that looks finished.
    """
    tmp = temp_dir(out_dir)
    try:
        for member in tqdm(members, desc=f"extract {Path(str(tar.name or '')).name}", unit="file", mininterval=0.5):
            tar.extract(member, tmp, filter="data")
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
