"""A command line the user typed (a repository's setup, the editor, the terminal) as argv: split like
a POSIX shell would, but never run by one. Every refusal names the setting and the rule it broke."""

from __future__ import annotations

import shlex

from desktop.errors import TaskValidationError


def split_command(command: object, field: str, *, when_empty: str | None = None) -> list[str]:
    """The argv of `command`. An empty one is refused with the hint `when_empty` (for example
    "set it in Settings"); without a hint it is allowed, as [] (a setting left to its default)."""
    if not isinstance(command, str):
        raise TaskValidationError(field, f"must be a command line as text (got {command!r})")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise TaskValidationError(field, f"cannot be read as a command: {exc}") from None
    if not argv and when_empty is not None:
        raise TaskValidationError(field, f"must name a program to run ({when_empty})")
    return argv
