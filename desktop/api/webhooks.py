"""Checking who sent a webhook: GitHub's X-Hub-Signature-256, an HMAC-SHA256 of the raw body."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from desktop.api.credentials import HookSecrets, matches
from desktop.errors import AgentQueueError
from desktop.queue.hooks import SECRET_FILE, Hook

SIGNATURE_HEADER = "X-Hub-Signature-256"


class SecretUnavailable(AgentQueueError):
    """The hook has a secret, but this server cannot find it (so it cannot check any request)."""


def signature(secret: str, body: bytes) -> str:
    """The header value a sender holding `secret` puts on `body`: ``sha256=`` and the hex digest."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signed_by(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body` with `secret` (compared in constant time)."""
    return matches(header, signature(secret, body))


def hook_secret(hook: Hook, stored: HookSecrets, environ: Mapping[str, str] = os.environ) -> str | None:
    """The hook's secret, or None for a hook without one.

    Raises SecretUnavailable when the hook names a secret this process does not have: the server
    then refuses every request to the hook rather than accepting unsigned ones.
    """
    if hook.secret_source is None:
        return None
    if hook.secret_source == SECRET_FILE:
        secret = stored.get(hook.name)
        where = f"the secrets file {stored.path}"
    else:
        variable = hook.secret_env or ""
        secret = environ.get(variable)
        where = f"the environment variable {variable}"
    if not secret:
        raise SecretUnavailable(f"hook {hook.name!r}: its secret is not in {where} of this server")
    return secret
