"""Archiving finished tasks before retention deletes them: gzip JSON Lines files in a folder.

Each line is one task: its row as stored (times as epoch seconds, payload and result as JSON
values), its attempts and its dependencies. The order is crash-safe: a batch is read, written to a
new file under a temporary name, flushed to disk (fsync of the file, then of the folder after the
rename), and only then are its rows deleted. A crash before the rename leaves a `.part` file that
is ignored; a crash after it and before the delete leaves the rows in the database, and the next
pass archives them again, so the archive may hold a task twice: `export` keeps one line per task
(the one archived last). Files are never rewritten.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from desktop.queue.tables import A, D, T

SUFFIX = ".jsonl.gz"
_JSON_COLUMNS = ("payload", "result")


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    path: Path
    size: int
    tasks: int  # lines, duplicates included
    created: datetime


class Archive:
    """The archive folder (paths.data_dir() / "archive" for the app)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def records(self, conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The archive lines of these tasks, read in the caller's transaction."""
        tasks = [dict(r._mapping) for r in conn.execute(select(T).where(T.c.id.in_(ids)).order_by(T.c.id))]
        attempts: dict[int, list[dict[str, Any]]] = {}
        for row in conn.execute(select(A).where(A.c.task_id.in_(ids)).order_by(A.c.task_id, A.c.number)):
            attempt = dict(row._mapping)
            if attempt["details"] is not None:
                attempt["details"] = json.loads(attempt["details"])
            attempts.setdefault(attempt["task_id"], []).append(attempt)
        deps: dict[int, list[int]] = {}
        for task_id, dep in conn.execute(select(D.c.task_id, D.c.depends_on_id).where(D.c.task_id.in_(ids))):
            deps.setdefault(task_id, []).append(dep)
        for task in tasks:
            for column in _JSON_COLUMNS:
                task[column] = None if task[column] is None else json.loads(task[column])
            task.pop("lease_token", None)  # a finished task has none; never archive one anyway
        return [
            {"id": t["id"], "task": t, "attempts": attempts.get(t["id"], []), "depends_on": sorted(deps.get(t["id"], []))}
            for t in tasks
        ]

    def write(self, records: Sequence[dict[str, Any]], now: float) -> Path:
        """Write `records` to a new file, durably (see the module's docstring); its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%S")
        final = self.folder / f"tasks-{stamp}-{secrets.token_hex(3)}{SUFFIX}"
        part = final.with_name(final.name + ".part")
        with part.open("wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=int(now)) as out:
                for record in records:
                    line = json.dumps({**record, "archived_at": now}, ensure_ascii=False, separators=(",", ":"))
                    out.write(line.encode("utf-8") + b"\n")
            raw.flush()
            os.fsync(raw.fileno())
        part.replace(final)
        _fsync_folder(self.folder)
        return final

    def files(self) -> list[ArchiveFile]:
        """The archive's files, oldest first."""
        found = []
        for path in self._paths():
            with gzip.open(path, "rb") as lines:
                count = sum(1 for _ in lines)
            stat = path.stat()
            found.append(ArchiveFile(path, stat.st_size, count, datetime.fromtimestamp(stat.st_mtime, UTC)))
        return found

    def export(self, *, since: float | None = None, agent: str | None = None) -> Iterator[dict[str, Any]]:
        """Every archived task (finished at or after `since`, of `agent`), once each, by id.

        A task archived twice (see the module's docstring) comes out as its last archived line.
        """
        latest: dict[int, dict[str, Any]] = {}
        for record in self._lines():
            task = record["task"]
            if agent is not None and task["agent"] != agent:
                continue
            if since is not None and (task["finished_at"] or 0) < since:
                continue
            kept = latest.get(record["id"])
            if kept is None or record["archived_at"] >= kept["archived_at"]:
                latest[record["id"]] = record
        for task_id in sorted(latest):
            yield latest[task_id]

    def _paths(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.endswith(SUFFIX) and p.is_file())

    def _lines(self) -> Iterable[dict[str, Any]]:
        for path in self._paths():
            with gzip.open(path, "rt", encoding="utf-8") as lines:
                for line in lines:
                    if line.strip():
                        yield json.loads(line)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
