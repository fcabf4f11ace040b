"""The schema revisions this version of Agent Queue knows (its alembic migrations).

A database whose stored revision is not among them was made by a newer version: it is refused
before anything writes to it (on SQLite, before the first connection switches it to WAL).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from desktop.errors import DatabaseFileError
from desktop.paths import resource_dir


def migrations_dir() -> Path:
    return resource_dir("alembic")


@functools.cache
def script() -> ScriptDirectory:
    """The migrations' script folder (read once per process)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return ScriptDirectory.from_config(cfg)


@functools.cache
def known() -> frozenset[str]:
    return frozenset(revision.revision for revision in script().walk_revisions())


def newest() -> str:
    return ", ".join(sorted(script().get_heads()))


def refuse_unknown(stored: Iterable[str], where: str) -> None:
    """Raise DatabaseFileError when a stored revision is one this version does not know."""
    unknown = sorted(set(stored) - known())
    if unknown:
        raise DatabaseFileError(
            f"The database {where} was created by a newer version of Agent Queue (revision "
            f"{', '.join(unknown)}); this version knows up to {newest()}. It was left untouched: "
            "open it with that newer version, or choose another database."
        )
