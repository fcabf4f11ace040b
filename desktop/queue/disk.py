"""Telling a full disk from a damaged file: SQLite reports a full disk as SQLITE_FULL, but also as
a plain "disk I/O error" when the -wal or -shm file cannot grow. Neither means the file is corrupt."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from desktop.errors import DatabaseFileError

ALMOST_FULL_BYTES = 1 << 20  # less free space than this, and an I/O error is taken for a full disk
_FULL = ("disk is full", "No space left on device")


def _free_bytes(folder: Path) -> int | None:
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def disk_error(exc: BaseException, where: str, folder: Path | None) -> DatabaseFileError | None:
    """The message for a full disk or a failing one (`folder` holds the database file, when it is
    one), or None when `exc` is neither."""
    exc = getattr(exc, "orig", None) or exc
    message = str(exc)
    name = str(getattr(exc, "sqlite_errorname", ""))
    io_error = "disk I/O error" in message or name.startswith("SQLITE_IOERR")
    full = (
        any(words in message for words in _FULL) or name.startswith("SQLITE_FULL")
        or getattr(exc, "errno", None) == errno.ENOSPC
        or (io_error and folder is not None and (_free_bytes(folder) or 0) < ALMOST_FULL_BYTES)
    )
    if full:
        return DatabaseFileError(f"The disk holding {where} is full; nothing was written. Free some space and try again.")
    if io_error:
        return DatabaseFileError(
            f"The disk holding {where} failed to read or write ({message}); nothing was written. The "
            "file was left as it was: check the disk, then try again."
        )
    return None
