"""The API's bearer token and the hooks' generated secrets: private files in the config folder.

Both files are created with mode 0600 in a 0700 folder (whatever the umask), written whole to a
temporary file and renamed into place, so a reader never sees half a token. Secrets are compared
in constant time and never logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from pathlib import Path

from desktop import paths
from desktop.private_files import tighten, write_private_text

log = logging.getLogger(__name__)

TOKEN_FILE = "api-token"
HOOK_SECRETS_FILE = "hook-secrets.json"


def read_private(path: Path) -> str | None:
    """The file's text, or None if it does not exist; a file others can read is made private."""
    try:
        tighten(path)
    except FileNotFoundError:
        return None
    return path.read_text(encoding="utf-8")


def matches(candidate: str | None, secret: str) -> bool:
    """Constant-time comparison of a presented secret with the real one."""
    if not candidate:
        return False
    return hmac.compare_digest(candidate.encode("utf-8"), secret.encode("utf-8"))


class TokenStore:
    """The API's bearer token, made at first use and kept in `config_dir()/api-token`.

    `current()` notices a rotation by another process (`agentq token --rotate`) through the file's
    modification time, so a running server stops accepting the old token without a restart.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.config_dir() / TOKEN_FILE
        self._cached: tuple[int, str] | None = None

    def current(self) -> str:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return self.rotate()
        if self._cached is None or self._cached[0] != mtime:
            text = (read_private(self.path) or "").strip()
            if not text:
                return self.rotate()
            self._cached = (mtime, text)
        return self._cached[1]

    def rotate(self) -> str:
        """Make a new token, replacing the old one; returns it."""
        token = secrets.token_urlsafe(32)
        write_private_text(self.path, token + "\n")
        self._cached = (self.path.stat().st_mtime_ns, token)
        log.info("made a new API token in %s", self.path)
        return token

    def accepts(self, candidate: str | None) -> bool:
        return matches(candidate, self.current())


class HookSecrets:
    """Secrets generated for hooks (`agentq hooks add --generate-secret`), by hook name."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.config_dir() / HOOK_SECRETS_FILE

    def _load(self) -> dict[str, str]:
        text = read_private(self.path)
        return json.loads(text) if text else {}

    def get(self, name: str) -> str | None:
        return self._load().get(name)

    def generate(self, name: str) -> str:
        """A new random secret for hook `name`, stored; the only time it is shown is now."""
        secret = secrets.token_hex(32)
        stored = self._load()
        stored[name] = secret
        write_private_text(self.path, json.dumps(stored, indent=2, sort_keys=True))
        return secret

    def remove(self, name: str) -> None:
        stored = self._load()
        if stored.pop(name, None) is not None:
            write_private_text(self.path, json.dumps(stored, indent=2, sort_keys=True))
