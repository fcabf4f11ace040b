"""The ``http`` kind: send the task's payload as JSON to a URL.

Config::

    {"url": "https://api.example.com/repos/{repo}/jobs",  # required; http or https
     "method": "POST",                                    # GET, POST, PUT, PATCH or DELETE
     "headers": {"Authorization": "Bearer {token}"},      # optional
     "timeout_s": 30,                                     # per network operation; default 30
     "body_key": "body",                                  # optional: send payload["body"] only
     "url_password": "$env:API_PASSWORD",                 # optional: Basic auth password for the URL's user
     "allowed_hosts": ["api.example.com", "*.example.org"]}  # optional: the only hosts it may call

Placeholders in the URL are percent-encoded as a single URL component, so a payload value can
never change the scheme, host, path structure or query of the URL (``a/b`` becomes ``a%2Fb``).
The one exception is a URL that is nothing but one placeholder (``"url": "{url}"``): the agent
then deliberately takes the whole URL from the payload (the queue's webhook deliveries do this),
and the value must itself be an http(s) URL. Then whoever enqueues tasks chooses where the
payload (and the agent's headers, credentials included) is sent: give such an agent
``allowed_hosts``, and a request to any other host fails for good, naming the host. A
``*.example.org`` entry allows every subdomain of example.org; ports are not restricted.
Header values are filled as is, but must stay free of line breaks.

Outcomes: 2xx returns ``{"status": ..., "body": ...}`` (JSON if the response says so, else
text; at most 64 KiB, with ``"truncated": true`` when cut). 5xx, 408, 429, timeouts and network
errors raise HttpError, which the queue retries. Other statuses raise PermanentError. Redirects
are not followed, so credentials are never sent to a second address.

User:password in the URL (or the URL's user with ``url_password``) is sent as Basic auth, unless
an Authorization header is set. A header value or ``url_password`` may be a reference,
``"$secret:NAME"`` (the system keyring or the 0600 secrets file; adding an agent moves its secrets
there) or ``"$env:NAME"`` (the worker's environment variable), resolved just before the request
(desktop/secrets.py), so the agents table never holds the value. Header values, passwords and
resolved references never appear in error messages, in the task's log or in logging. Messages
name the URL as scheme://host[:port]/path only — no credentials, query or fragment.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.parse
from typing import Any

import httpx

from desktop import secrets
from desktop.agents._config import config_dict, positive_seconds, string_map, validated
from desktop.agents.base import PermanentError, TaskContext, TaskTimeout
from desktop.agents.placeholders import fill, names
from desktop.errors import TaskValidationError
from desktop.queue.types import Task

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_TIMEOUT_S = 30.0
MAX_BODY_BYTES = 64 * 1024
ERROR_SNIPPET_CHARS = 500
RETRYABLE_STATUSES = frozenset({408, 429})

_SETTINGS = ("url", "method", "headers", "timeout_s", "body_key", "url_password", "allowed_hosts")
_WHOLE_PLACEHOLDER = re.compile(r"^\{([A-Za-z0-9_-]+)\}$")
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 header name
_BAD_HEADER_CHARS = ("\r", "\n", "\0")
_HOST_RE = re.compile(r"(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*|\[[0-9A-Fa-f:.]+\]")


class HttpError(Exception):
    """A retryable HTTP failure: a 5xx/408/429 response, a timeout or a network error."""

    def __init__(self, message: str, status: int | None = None, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class HttpKind:
    """Sends the payload as JSON to a URL and returns the response."""

    name = "http"
    description = "Send the payload as JSON to an http(s) URL."

    def validate(self, config: dict[str, Any]) -> None:
        config = config_dict(config, _SETTINGS, self.name)
        url = config.get("url")
        if not isinstance(url, str) or not url.strip():
            raise TaskValidationError("config.url", "must be an http:// or https:// URL")
        lower = url.lower()
        whole = _WHOLE_PLACEHOLDER.match(url) is not None  # the URL comes from the payload
        if not whole and (not lower.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0):
            raise TaskValidationError("config.url", "must start with http:// or https:// followed by a host")
        if any(c in url for c in (" ", *_BAD_HEADER_CHARS)):
            raise TaskValidationError("config.url", "must not contain spaces or line breaks")
        names(url, "config.url")
        method = config.get("method", "POST")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise TaskValidationError("config.method", f"must be one of {', '.join(METHODS)}")
        headers = string_map(config, "headers")
        for name, value in headers.items():
            field = f"config.headers.{name}"
            if not _TOKEN_RE.fullmatch(name):
                raise TaskValidationError(field, "is not a valid header name")
            # The rules below never quote the value: it may be a secret.
            if any(c in value for c in _BAD_HEADER_CHARS):
                raise TaskValidationError(field, "must not contain line breaks or NUL")
            if not value.isascii():
                raise TaskValidationError(field, "must be ASCII text")
            secrets.check_reference(value, field)
            try:
                names(value, field)
            except TaskValidationError:
                raise TaskValidationError(
                    field, "has a malformed placeholder; use {name}, and {{ or }} for literal braces"
                ) from None
        positive_seconds(config, "timeout_s")
        body_key = config.get("body_key")
        if body_key is not None and (not isinstance(body_key, str) or not body_key):
            raise TaskValidationError("config.body_key", "must be the name of a payload key")
        password = config.get("url_password")
        if password is not None:
            if not isinstance(password, str) or not password or any(c in password for c in _BAD_HEADER_CHARS):
                raise TaskValidationError("config.url_password", "must be a password, or a $secret: or $env: reference")
            secrets.check_reference(password, "config.url_password")
            if secrets.split_url_password(url)[1] is not None:
                raise TaskValidationError("config.url_password", "cannot be used with a password in config.url")
        _allowed_hosts(config)

    def run(self, task: Task, config: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        config = validated(self.validate, config)
        payload = task.payload
        headers: dict[str, str] = fill(config.get("headers") or {}, payload, "config.headers")
        try:  # after filling, so a secret's value is never read as a template
            headers = secrets.resolve(headers, "config.headers")
            password: str | None = secrets.resolve(config.get("url_password"), "config.url_password")
        except secrets.SecretError as exc:
            raise PermanentError(str(exc)) from None
        hidden = _secrets([*headers.values(), password])
        for name, value in headers.items():
            if any(c in value for c in _BAD_HEADER_CHARS) or not value.isascii():
                raise PermanentError(
                    f"config.headers.{name} must be ASCII without line breaks once filled from the payload"
                )
        whole = _WHOLE_PLACEHOLDER.match(config["url"])
        if whole:
            filled = fill(config["url"], payload, "config.url")
            if not filled.lower().startswith(("http://", "https://")):
                raise PermanentError(f"payload key {whole[1]!r} must hold an http:// or https:// URL")
        else:
            filled = fill(config["url"], payload, "config.url", quote=_quote_component)
        url, auth, url_secrets = _split_credentials(filled, password)
        hidden += url_secrets
        _check_host(url, config)
        if any(name.lower() == "authorization" for name in headers):
            auth = None  # an explicit Authorization header wins over user:password in the URL
        shown = _display(url)
        method = str(config.get("method", "POST")).upper()

        timeout_s = positive_seconds(config, "timeout_s") or DEFAULT_TIMEOUT_S
        task_limited = ctx.timeout_s is not None and ctx.timeout_s < timeout_s
        if task_limited:
            timeout_s = ctx.timeout_s  # type: ignore[assignment]
        body_key = config.get("body_key")
        if body_key is not None and (not isinstance(payload, dict) or body_key not in payload):
            raise PermanentError(f"payload has no key {body_key!r} (needed by config.body_key)")
        sent = payload[body_key] if body_key is not None else payload
        body: dict[str, Any] = {} if method == "GET" else {"json": sent}

        ctx.check_cancelled()
        try:
            with (
                httpx.Client(timeout=timeout_s, follow_redirects=False) as client,
                client.stream(method, url, headers=headers, auth=auth, **body) as response,
            ):
                status = response.status_code
                raw, truncated = _read_bounded(response, MAX_BODY_BYTES)
                content_type = response.headers.get("content-type", "")
                charset = response.charset_encoding or "utf-8"
                retry_after = response.headers.get("retry-after")
        except httpx.TimeoutException:
            if task_limited:
                raise TaskTimeout(timeout_s) from None
            raise HttpError(f"timed out after {timeout_s:g} s waiting for {shown}") from None
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise PermanentError(f"cannot send to {shown}: {_redact(_describe(exc), hidden)}") from None
        except Exception as exc:  # network errors; never chained, their text may hold a secret
            raise HttpError(f"{_redact(_describe(exc), hidden)} ({method} {shown})") from None

        text = _decode(raw, charset)
        if 200 <= status < 300:
            result: dict[str, Any] = {"status": status, "body": text}
            if truncated:
                result["truncated"] = True
            elif _is_json(content_type) and raw:
                with contextlib.suppress(ValueError):  # not JSON after all: keep the text
                    result["body"] = json.loads(text)
            return result

        message = f"HTTP {status} from {shown}"
        ctx.log(message)
        snippet = _redact(text[:ERROR_SNIPPET_CHARS], hidden).strip()
        if snippet:
            ctx.log(snippet)
        if status >= 500 or status in RETRYABLE_STATUSES:
            raise HttpError(message, status=status, retry_after=retry_after)
        if 300 <= status < 400:
            message += " (redirects are not followed; point config.url at the final address)"
        raise PermanentError(message)


def _quote_component(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _split_credentials(url: str, password: str | None) -> tuple[str, httpx.BasicAuth | None, list[str]]:
    """Take any user:password out of `url`; return the bare URL, Basic auth and the secrets.
    `password` (config.url_password) goes with the URL's user name."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        stripped = re.sub(r"^([A-Za-z]+://)[^/?#]*@", r"\1", url)
        raise PermanentError(f"config.url is not a valid URL once filled: {_display_text(stripped)}") from None
    if not parsed.userinfo and password is None:
        return url, None, []
    password = parsed.password if password is None else password
    hidden = _secrets([parsed.userinfo.decode("ascii", "replace"), password, parsed.username])
    bare = parsed.copy_with(userinfo=b"")
    return str(bare), httpx.BasicAuth(parsed.username, password), hidden


def _allowed_hosts(config: dict[str, Any]) -> list[str] | None:
    """config.allowed_hosts, checked: host names (``*.`` for subdomains) or [IPv6] literals."""
    hosts = config.get("allowed_hosts")
    if hosts is None:
        return None
    if not isinstance(hosts, list) or not hosts:
        raise TaskValidationError("config.allowed_hosts", "must be a non-empty list of host names")
    for i, host in enumerate(hosts):
        if not isinstance(host, str) or not _HOST_RE.fullmatch(host):
            raise TaskValidationError(
                f"config.allowed_hosts[{i}]", "must be a host name such as api.example.com or *.example.com"
            )
    return [host.lower().strip("[]") for host in hosts]


def _check_host(url: str, config: dict[str, Any]) -> None:
    """Refuse, for good, a URL whose host is not in config.allowed_hosts (when it has one)."""
    allowed = _allowed_hosts(config)
    if allowed is None:
        return
    host = httpx.URL(url).host.lower()
    if not any(host == entry or (entry.startswith("*.") and host.endswith(entry[1:])) for entry in allowed):
        raise PermanentError(f"the host {host!r} is not in config.allowed_hosts of this agent")


def _display(url: str) -> str:
    """scheme://host[:port]/path of `url`: no credentials, query or fragment."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        return _display_text(url)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port is not None else ""
    path = parsed.raw_path.decode("ascii", "replace").split("?", 1)[0]
    return f"{parsed.scheme}://{host}{port}{path}"


def _display_text(url: str) -> str:
    """_display for text httpx cannot parse."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"


def _secrets(values: Any) -> list[str]:
    """Strings to scrub from any text we show: whole values, and long words within them."""
    found: set[str] = set()
    for value in values:
        if not value:
            continue
        if len(value) >= 4:
            found.add(value)
        found.update(word for word in value.split() if len(word) >= 8)
    return sorted(found, key=len, reverse=True)


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


def _describe(exc: BaseException) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _read_bounded(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Read at most `limit` bytes of the (decompressed) body; say whether there was more."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return raw.decode("utf-8", errors="replace")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")
