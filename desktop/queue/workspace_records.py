"""What the database remembers of the folders tasks worked in (the workspaces table).

A worker writes a task's row before its agent starts (so cleanup knows which worktrees the app
made, even if the worker dies), gives it a PORT no other running task holds, and stores the change
summary when the agent has exited. These are short transactions of a task's slot, off the hot
path. Rows outlive their tasks: only a row marked `created` lets anything remove its folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from typing import Any

from sqlalchemy import insert, select, update

from desktop.queue.rows import workspace_from_row
from desktop.queue.store import Store
from desktop.queue.tables import FINISHED, T, W
from desktop.queue.types import TaskStatus, WorkspaceRecord

_CHANGEABLE = frozenset({"base_commit", "copied", "prepared_at", "summary", "removed_at"})


class WorkspaceRecords:
    """The workspaces table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(
        self,
        task_id: int,
        repo: str,
        repo_path: str,
        path: str,
        branch: str,
        base: str,
        *,
        created: bool,
        base_commit: str | None = None,
    ) -> WorkspaceRecord:
        """Remember the folder task `task_id` of `repo` (cloned at `repo_path`) works in
        (`created`: the app makes it, now)."""
        values = {
            "task_id": task_id, "repo": repo, "repo_path": repo_path, "path": path, "branch": branch, "base": base,
            "base_commit": base_commit, "created": created, "copied": "[]", "created_at": self.store.clock(),
        }
        with self.store.write() as conn:
            row = conn.execute(insert(W).values(values).returning(*W.c)).one()
        return workspace_from_row(row._mapping)

    def update(self, workspace_id: int, **changes: Any) -> WorkspaceRecord:
        """Change base_commit, copied (a list), prepared_at or removed_at (epoch seconds), summary (a dict)."""
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"not a workspace column one may change: {', '.join(sorted(unknown))}")
        values = dict(changes)
        if "copied" in values:
            values["copied"] = json.dumps(list(values["copied"]))
        if "summary" in values and values["summary"] is not None:
            values["summary"] = json.dumps(values["summary"], ensure_ascii=False)
        with self.store.write() as conn:
            row = conn.execute(update(W).where(W.c.id == workspace_id).values(values).returning(*W.c)).one()
        return workspace_from_row(row._mapping)

    def forget(self, workspace_id: int) -> None:
        """Drop a row whose folder was never made (its creation failed)."""
        with self.store.write() as conn:
            conn.execute(W.delete().where(W.c.id == workspace_id))

    def of_task(self, task_id: int) -> WorkspaceRecord | None:
        """The task's workspace (the newest row, if it has several), or None."""
        with self.store.read() as conn:
            row = conn.execute(select(W).where(W.c.task_id == task_id).order_by(W.c.id.desc()).limit(1)).first()
        return None if row is None else workspace_from_row(row._mapping)

    def of_tasks(self, task_ids: Iterable[int]) -> dict[int, WorkspaceRecord]:
        ids = sorted(set(task_ids))
        if not ids:
            return {}
        with self.store.read() as conn:
            rows = conn.execute(select(W).where(W.c.task_id.in_(ids)).order_by(W.c.id)).all()
        return {r.task_id: workspace_from_row(r._mapping) for r in rows}  # the newest wins

    def listing(self, repo: str | None = None, *, removed: bool = False) -> list[WorkspaceRecord]:
        """Rows of one repository (or all), oldest first; removed ones only with `removed`."""
        query = select(W).order_by(W.c.id)
        if repo is not None:
            query = query.where(W.c.repo == repo)
        if not removed:
            query = query.where(W.c.removed_at.is_(None))
        with self.store.read() as conn:
            return [workspace_from_row(r._mapping) for r in conn.execute(query)]

    def assign_port(self, workspace_id: int, choose: Callable[[Collection[int]], int]) -> int:
        """Give the workspace a port: `choose` gets the ports other running tasks hold and returns
        one; it is recorded in the same write transaction, so two workers never pick the same."""
        with self.store.write() as conn:
            held = set(
                conn.execute(
                    select(W.c.port)
                    .join(T, T.c.id == W.c.task_id)
                    .where(T.c.status == TaskStatus.RUNNING.value, W.c.port.is_not(None), W.c.id != workspace_id)
                ).scalars()
            )
            port = choose(held)
            conn.execute(update(W).where(W.c.id == workspace_id).values(port=port))
        return port

    def prunable(self, finished_before: float, repo: str | None = None) -> list[WorkspaceRecord]:
        """Worktrees the app created and has not removed, whose folder no unfinished task uses (or
        will use: a follow-up shares its parent's folder) and no task used after `finished_before`."""
        rows = self.listing(repo)
        ids = sorted({r.task_id for r in rows})
        tasks: dict[int, tuple[str, float | None]] = {}
        followed: set[int] = set()
        with self.store.read() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for task_id, status, finished_at in conn.execute(
                    select(T.c.id, T.c.status, T.c.finished_at).where(T.c.id.in_(chunk))
                ):
                    tasks[task_id] = (status, finished_at)
                followed.update(
                    conn.execute(
                        select(T.c.follow_up_of).where(T.c.follow_up_of.in_(chunk), T.c.status.not_in(FINISHED))
                    ).scalars()
                )
        busy: set[str] = set()
        for row in rows:
            status, finished_at = tasks.get(row.task_id, (None, None))  # a deleted task finished long ago
            recent = status is not None and (status not in FINISHED or (finished_at or 0) >= finished_before)
            if recent or row.task_id in followed:
                busy.add(row.path)
        return [r for r in rows if r.created and r.path not in busy]
