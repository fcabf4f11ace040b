"""Repositories tasks work on, and what a task's `repo` and `follow_up_of` mean at enqueue.

A repository's tasks share its lock key (`repo_lock_key` of its source), whose capacity is kept in
step with the repository: `max_parallel` in worktree mode, 1 in place. This module stores and
checks values only; looking at git (is it a repository, cloning a URL) is desktop.workspaces'.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from desktop.errors import NotFoundError, TaskStateError, TaskValidationError
from desktop.queue import validation as check
from desktop.queue.lock_keys import repo_lock_key
from desktop.queue.new_task import NewTask
from desktop.queue.rows import repo_from_row
from desktop.queue.store import Store
from desktop.queue.tables import FINISHED, R, T
from desktop.queue.types import REPO_MODES, Repo, TaskStatus

MAX_PATH_LENGTH = 1000
MAX_SOURCE_LENGTH = 2000
_SETTINGS = ("mode", "max_parallel", "base_branch", "setup_command", "copy_patterns", "push", "open_pr",
             "commit_uncommitted")


class Repos:
    """Adding, changing, finding and removing repositories."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_repo(
        self,
        name: str,
        *,
        source: str,
        local_path: str,
        url: str | None = None,
        cloned: bool = False,
        **settings: Any,
    ) -> Repo:
        """Register a repository (`settings`: mode, max_parallel, base_branch, setup_command,
        copy_patterns, push, open_pr, commit_uncommitted). Its lock key gets its capacity in the
        same transaction. Raises TaskValidationError naming the field; nothing is written then."""
        values = repo_settings({"mode": "worktree", "max_parallel": 1, **settings})
        values.update(
            name=check.agent_name(name),
            source=_text("source", source, MAX_SOURCE_LENGTH),
            local_path=_text("local_path", local_path, MAX_PATH_LENGTH),
            url=None if url is None else _text("url", url, MAX_SOURCE_LENGTH),
            lock_key=repo_lock_key(source),
            cloned=bool(cloned),
            created_at=self.store.clock(),
        )
        with self.store.write() as conn:
            for column, what in (("name", "a repository named"), ("lock_key", "the repository")):
                taken = conn.execute(select(R.c.name).where(R.c[column] == values[column])).scalar()
                if taken is not None:
                    shown = values["name"] if column == "name" else source
                    field = "name" if column == "name" else "source"
                    raise TaskValidationError(field, f"{what} {shown!r} is already registered (as {taken!r})")
            row = conn.execute(insert(R).values(values).returning(*R.c)).one()
            repo = repo_from_row(row._mapping)
            self.store.backend.set_lock_capacity(conn, repo.lock_key, repo.capacity)
            self.store.notify(conn)
        return repo

    def get_repo(self, name: str) -> Repo:
        with self.store.read() as conn:
            row = conn.execute(select(R).where(R.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"repo: there is no repository named {name!r} (see agentq repos list)")
        return repo_from_row(row._mapping)

    def find_repo(self, ref: str) -> Repo | None:
        """The repository `ref` names: its name, or its path or URL (the same lock key)."""
        with self.store.read() as conn:
            return resolve(conn, ref)

    def list_repos(self) -> list[Repo]:
        with self.store.read() as conn:
            return [repo_from_row(r._mapping) for r in conn.execute(select(R).order_by(R.c.name))]

    def waiting_counts(self) -> dict[str, int]:
        """Per repository, its tasks not finished and not running (pending, retrying, blocked)."""
        waiting = select(T.c.repo, func.count()).where(
            T.c.repo.is_not(None), T.c.status.not_in((*FINISHED, TaskStatus.RUNNING.value))
        ).group_by(T.c.repo)
        with self.store.read() as conn:
            return {repo: int(count) for repo, count in conn.execute(waiting)}

    def update_repo(self, name: str, **changes: Any) -> Repo:
        """Change a repository's settings; its lock key's capacity follows (running tasks go on)."""
        current = self.get_repo(name)
        merged = {key: getattr(current, key) for key in _SETTINGS} | changes
        values = {key: value for key, value in repo_settings(merged).items() if key in changes}
        with self.store.write() as conn:
            row = conn.execute(update(R).where(R.c.name == name).values(values).returning(*R.c)).first()
            if row is None:
                raise NotFoundError(f"repo: there is no repository named {name!r}")
            repo = repo_from_row(row._mapping)
            self.store.backend.set_lock_capacity(conn, repo.lock_key, repo.capacity)
            self.store.notify(conn)
        return repo

    def remove_repo(self, name: str) -> Repo:
        """Forget a repository (never its folder). Refused while it has unfinished tasks."""
        with self.store.write() as conn:
            row = conn.execute(select(R).where(R.c.name == name)).first()
            if row is None:
                raise NotFoundError(f"repo: there is no repository named {name!r}")
            unfinished = conn.execute(
                select(T.c.id).where(T.c.repo == name, T.c.status.not_in(FINISHED)).order_by(T.c.id).limit(1)
            ).scalar()
            if unfinished is not None:
                raise TaskStateError(
                    f"repository {name!r} has unfinished tasks (task {unfinished} and maybe more); cancel them first"
                )
            repo = repo_from_row(row._mapping)
            conn.execute(delete(R).where(R.c.name == name))
            self.store.backend.set_lock_capacity(conn, repo.lock_key, 1)  # the Cleaner drops it once unused
        return repo


def resolve(conn: Connection, ref: str) -> Repo | None:
    """The repository named `ref`, else the one whose source has the lock key of `ref`."""
    row = conn.execute(select(R).where(R.c.name == ref)).first()
    if row is None:
        try:
            key = repo_lock_key(ref)
        except TaskValidationError:
            return None
        row = conn.execute(select(R).where(R.c.lock_key == key)).first()
    return None if row is None else repo_from_row(row._mapping)


def task_repos(conn: Connection, items: Sequence[NewTask], *, batch: bool) -> list[Repo | None]:
    """The repository of each new task, checked: a known one, never with a lock key of its own;
    a follow-up's is its parent's. Raises TaskValidationError naming the field (``items[3].repo``
    with `batch`)."""
    parents = _parents(conn, {item.values["follow_up_of"] for item in items} - {None})
    found: dict[str, Repo | None] = {}
    repos: list[Repo | None] = []
    for index, item in enumerate(items):
        prefix = f"items[{index}]." if batch else ""
        ref, parent = item.values["repo"], item.values["follow_up_of"]
        if parent is not None:
            if parent not in parents:
                raise TaskValidationError(prefix + "follow_up_of", f"task {parent} does not exist")
            if parents[parent] is None:
                raise TaskValidationError(
                    prefix + "follow_up_of",
                    f"task {parent} works on no repository; a follow-up continues in its parent's worktree",
                )
            ref = ref if ref is not None else parents[parent]
        if ref is None:
            repos.append(None)
            continue
        if ref not in found:
            found[ref] = resolve(conn, ref)
        repo = found[ref]
        if repo is None:
            raise TaskValidationError(
                prefix + "repo", f"no repository {ref!r} is registered; add it first with: agentq repos add {ref}"
            )
        if parent is not None and repo.name != parents[parent]:
            raise TaskValidationError(
                prefix + "repo", f"a follow-up works on its parent's repository ({parents[parent]!r}), not {repo.name!r}"
            )
        if item.values["lock_key"] is not None:
            raise TaskValidationError(
                prefix + "lock_key", "a task with a repository takes its repository's lock key; leave lock_key out"
            )
        repos.append(repo)
    return repos


def _parents(conn: Connection, ids: set[int]) -> dict[int, str | None]:
    if not ids:
        return {}
    return {task_id: repo for task_id, repo in conn.execute(select(T.c.id, T.c.repo).where(T.c.id.in_(ids)))}


def _text(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise TaskValidationError(field, "must be a non-empty string")
    if len(value) > limit:
        raise TaskValidationError(field, f"must be at most {limit} characters (got {len(value)})")
    return value


def repo_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """The repository settings among `values`, checked together (push and open_pr need worktrees)."""
    unknown = sorted(set(values) - set(_SETTINGS))
    if unknown:
        raise TaskValidationError(unknown[0], "is not a repository setting")
    out: dict[str, Any] = {}
    mode = values.get("mode", "worktree")
    if mode not in REPO_MODES:
        raise TaskValidationError("mode", f"must be {' or '.join(REPO_MODES)} (got {mode!r})")
    out["mode"] = mode
    if "max_parallel" in values:
        out["max_parallel"] = check.concurrency(values["max_parallel"], "max_parallel")
    if "base_branch" in values:
        base = values["base_branch"]
        out["base_branch"] = None if base is None else _text("base_branch", base, 200)
    if "setup_command" in values:
        setup = values["setup_command"]
        out["setup_command"] = None if setup is None else _text("setup_command", setup, 10_000)
    if "copy_patterns" in values:
        patterns = values["copy_patterns"] or ()
        if isinstance(patterns, str) or not all(isinstance(p, str) and p.strip() for p in patterns):
            raise TaskValidationError("copy_patterns", "must be a list of glob patterns such as '.env'")
        out["copy_patterns"] = json.dumps(list(patterns))
    for flag in ("push", "open_pr", "commit_uncommitted"):
        if flag in values:
            out[flag] = bool(values[flag])
    if mode != "worktree":
        for flag in ("push", "open_pr", "commit_uncommitted"):
            if values.get(flag):
                raise TaskValidationError(
                    flag, "works in worktree mode only: in place, the agent works on your own checkout and branch"
                )
    if values.get("open_pr") and not values.get("push"):
        raise TaskValidationError("open_pr", "needs push: a pull request is opened for the pushed branch")
    return out
