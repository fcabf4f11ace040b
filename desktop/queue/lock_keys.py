"""Turns repository identifiers into lock keys, so one task per repository runs at a time."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from desktop.errors import TaskValidationError

_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?!//)(?P<path>.+)$")
# github.com/me/app: a host with a dot, then at least owner and name
_BARE_HOST = re.compile(r"^(?P<host>[\w-]+(?:\.[\w-]+)+)/(?P<path>[^/\s]+/[^\s]+)$")


def repo_lock_key(identifier: str | os.PathLike[str]) -> str:
    """A stable key for a repository.

    ``git@github.com:user/repo.git``, ``ssh://git@github.com/user/repo``,
    ``https://github.com/user/repo`` and a bare ``github.com/user/repo`` all give
    ``repo:github.com/user/repo`` (host and path in lower case, ``.git`` and trailing slashes
    dropped). A local path gives ``path:`` and the resolved absolute path, so ``./repo``, ``repo/``
    and a symlink to it share one key. A bare ``host/owner/repo`` is a remote unless a local
    folder of that name exists.

    Raises TaskValidationError('repo', ...) for an empty identifier.
    """
    text = os.fspath(identifier).strip()
    if not text:
        raise TaskValidationError("repo", "must name a repository (a URL or a local path), not be empty")
    host_path = _remote_host_path(text)
    if host_path is None:
        return "path:" + str(Path(text).expanduser().resolve())
    host, path = host_path
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")]
    return f"repo:{host.lower()}/{path.strip('/').lower()}"


def _remote_host_path(text: str) -> tuple[str, str] | None:
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme == "file":
            return None
        return (parts.hostname or "", parts.path)
    if os.path.exists(text) or text.startswith(("/", ".", "~")):
        return None
    match = _SCP_LIKE.match(text) or _BARE_HOST.match(text)
    if match:
        return (match["host"], match["path"])
    return None
