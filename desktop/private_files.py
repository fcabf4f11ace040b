"""Folders 0700 and files 0600 whatever the umask: the queue, its settings, logs and secrets are
readable by the user who runs Agent Queue only.

Existing folders and files that this user owns and that others may read are tightened (group and
other bits removed, with a warning in the log). Never tightened: what another user owns, folders
with the sticky bit (shared ones such as /tmp), the home folder and the file system's root.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_OTHERS = 0o077  # group and other permission bits
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents as 0700 folders, or tighten it; returns `path`.

    Raises OSError when a folder cannot be created (the caller names it to the user).
    """
    path = Path(path)
    missing: list[Path] = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(folder, FOLDER_MODE)  # the umask may have taken bits we need
    tighten(path)
    return path


def private_file(path: Path) -> Path:
    """Create `path` as an empty 0600 file if it is missing, else tighten it; returns `path`.

    Call it before something that creates files with the umask's mode (logging, `open("a")`)
    first writes to the file.
    """
    path = Path(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        tighten(path)
        return path
    os.chmod(path, FILE_MODE)  # the umask may have taken bits we need
    return path


def write_private_text(path: Path, text: str) -> Path:
    """Replace `path` atomically with `text` (UTF-8) in a 0600 file; a missing folder is created
    0700 (an existing one is left as it is)."""
    path = Path(path)
    if not path.parent.exists():
        private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def private_database_file(path: Path) -> Path:
    """Make a SQLite database file private before SQLite opens it; returns `path`.

    A missing file is created empty at 0600 (SQLite treats an empty file as a new database), so
    SQLite, which gives a database's -wal, -shm and -journal files the database file's own mode,
    creates those 0600 too. An existing database and companions that are looser are tightened.
    The folder must exist. Call it once the file has passed the start-up checks: a file that is
    refused (another program's, say) is best left exactly as it was.
    """
    path = Path(path)
    private_file(path)
    for suffix in _SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            tighten(companion)
    return path


def tighten(path: Path) -> bool:
    """Remove group and other permissions from `path` if this user owns it and it is not a shared
    or home folder; returns whether its mode changed."""
    path = Path(path)
    info = os.stat(path)
    mode = stat.S_IMODE(info.st_mode)
    if not mode & _OTHERS or not _ours_to_tighten(path, info):
        return False
    os.chmod(path, mode & ~_OTHERS)
    log.info("made %s private to its owner (mode %03o, was %03o)", path, mode & ~_OTHERS, mode)
    return True


def _ours_to_tighten(path: Path, info: os.stat_result) -> bool:
    if not hasattr(os, "geteuid") or info.st_uid != os.geteuid():
        return False  # another user's (or Windows, where modes mean little)
    if stat.S_ISDIR(info.st_mode):
        if info.st_mode & stat.S_ISVTX:
            return False  # a shared folder such as /tmp
        resolved = path.resolve()
        if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
            return False
    return True
