"""`{name}` placeholders in agent configs, filled from a task's payload.

A template is a string such as ``"git -C {repo} pull"``; ``{repo}`` is replaced by
``str(payload["repo"])``. ``{{`` and ``}}`` stand for literal braces. Lists and dicts of strings
(argv, env, headers) are filled item by item; dict keys are left as they are.

Only plain names are allowed: no attribute or index access (``{a.b}``, ``{a[0]}``), no
conversions or format specs (``{a!r}``, ``{a:>5}``), no positional fields (``{}``, ``{0}``).
Nothing is ever evaluated, and a filled value is never parsed again, so a payload value cannot
add placeholders of its own.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any, TypeVar

from desktop.agents.base import PermanentError
from desktop.errors import TaskValidationError

T = TypeVar("T")

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_FORMATTER = string.Formatter()
_RULE = "placeholders must be plain names like {repo} (letters, digits, _ and -); write {{ and }} for literal braces"


def _parse(template: str, field: str) -> list[tuple[str, str | None]]:
    """Split `template` into (literal text, placeholder name or None) pairs.

    Raises TaskValidationError naming `field` if the template breaks the placeholder rules.
    """
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as exc:  # a lone "{" or "}"
        raise TaskValidationError(field, f"{exc}; {_RULE}") from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parts:
        if name is not None and (spec or conversion is not None or not NAME_RE.fullmatch(name)):
            shown = "{" + name + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}"
            raise TaskValidationError(field, f"{shown} is not allowed; {_RULE}")
        pieces.append((literal, name))
    return pieces


def names(template: Any, field: str = "template") -> list[str]:
    """The placeholder names used in `template` (a string, or lists/dicts of them), in order.

    Raises TaskValidationError naming `field` for a malformed template. Non-string leaves are
    ignored here; the kinds check their types themselves.
    """
    found: dict[str, None] = {}
    _collect(template, field, found)
    return list(found)


def _collect(template: Any, field: str, found: dict[str, None]) -> None:
    if isinstance(template, str):
        for _, name in _parse(template, field):
            if name is not None:
                found.setdefault(name, None)
    elif isinstance(template, list | tuple):
        for i, item in enumerate(template):
            _collect(item, f"{field}[{i}]", found)
    elif isinstance(template, dict):
        for key, value in template.items():
            _collect(value, f"{field}.{key}", found)


def fill(
    template: T, payload: Any, field: str = "template", *, quote: Callable[[str], str] | None = None
) -> T:
    """Return `template` with each ``{name}`` replaced by ``str(payload[name])``.

    Works on strings and, recursively, on lists and dict values. `field` names the config field
    in error messages. `quote`, if given, is applied to each substituted value (the http kind uses
    it to percent-encode values in URLs).

    Raises PermanentError if a placeholder's key is missing, if the payload is not a dict while
    placeholders are used, or if the template is malformed.
    """
    if isinstance(template, str):
        return _fill_str(template, payload, field, quote)  # type: ignore[return-value]
    if isinstance(template, list):
        return [fill(item, payload, f"{field}[{i}]", quote=quote) for i, item in enumerate(template)]  # type: ignore[return-value]
    if isinstance(template, tuple):
        return tuple(fill(item, payload, f"{field}[{i}]", quote=quote) for i, item in enumerate(template))  # type: ignore[return-value]
    if isinstance(template, dict):
        return {k: fill(v, payload, f"{field}.{k}", quote=quote) for k, v in template.items()}  # type: ignore[return-value]
    return template


def _fill_str(template: str, payload: Any, field: str, quote: Callable[[str], str] | None) -> str:
    try:
        pieces = _parse(template, field)
    except TaskValidationError as exc:
        raise PermanentError(str(exc)) from None
    out: list[str] = []
    for literal, name in pieces:
        out.append(literal)
        if name is None:
            continue
        if not isinstance(payload, dict):
            raise PermanentError(
                f"payload must be a JSON object with key {name!r} (needed by {field}); "
                f"got {type(payload).__name__}"
            )
        if name not in payload:
            raise PermanentError(f"payload has no key {name!r} (needed by {field})")
        value = str(payload[name])
        out.append(quote(value) if quote is not None else value)
    return "".join(out)
