"""Which agent kinds exist: the built-in ones plus plugins from the ``agentq.agents`` entry points.

A plugin package declares, e.g. in its pyproject.toml::

    [project.entry-points."agentq.agents"]
    shout = "mypkg.kinds:ShoutKind"

The entry point may name a class (instantiated with no arguments) or a ready instance. It must
have a string ``name`` and callable ``validate`` and ``run``. A plugin that fails to load, or
that reuses a built-in kind's name, is logged and skipped.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable
from typing import Any

from desktop.agents.base import AgentKind
from desktop.agents.builtin import EchoKind, FailKind, SleepKind
from desktop.agents.coding import CodingAgentKind, coding_kinds
from desktop.agents.command import CommandKind
from desktop.agents.http import HttpKind
from desktop.agents.python import PythonKind
from desktop.errors import TaskValidationError

ENTRY_POINT_GROUP = "agentq.agents"

log = logging.getLogger(__name__)
_lock = threading.Lock()
_kinds: dict[str, AgentKind] | None = None


def builtin_kinds() -> dict[str, AgentKind]:
    """A fresh name → kind mapping of the kinds that ship with the app."""
    kinds: list[AgentKind] = [CommandKind(), HttpKind(), PythonKind(), EchoKind(), SleepKind(), FailKind()]
    kinds += coding_kinds()
    return {kind.name: kind for kind in kinds}


def load_kinds(refresh: bool = False) -> dict[str, AgentKind]:
    """The built-in kinds plus working plugins. Cached; pass refresh=True to scan again."""
    global _kinds
    with _lock:
        if _kinds is None or refresh:
            _kinds = _discover()
        return dict(_kinds)


def _discover() -> dict[str, AgentKind]:
    kinds = builtin_kinds()
    try:
        entry_points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception:
        log.exception("could not list the %r entry points; using the built-in agent kinds only", ENTRY_POINT_GROUP)
        return kinds
    for ep in sorted(entry_points, key=lambda e: e.name):
        try:
            kind = _instantiate(ep.load())
        except Exception:
            log.exception("skipping agent kind plugin %r (%s): it failed to load", ep.name, ep.value)
            continue
        if kind.name in kinds:
            log.warning(
                "skipping agent kind plugin %r (%s): the kind %r is already defined", ep.name, ep.value, kind.name
            )
            continue
        kinds[kind.name] = kind
    return kinds


def _instantiate(obj: Any) -> AgentKind:
    kind = obj() if isinstance(obj, type) else obj
    name = getattr(kind, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"{obj!r} has no string 'name'")
    for method in ("validate", "run"):
        if not callable(getattr(kind, method, None)):
            raise TypeError(f"{obj!r} has no {method}() method")
    if not isinstance(getattr(kind, "description", None), str):
        raise TypeError(f"{obj!r} has no string 'description'")
    return kind  # type: ignore[no-any-return]


def get_kind(name: str) -> AgentKind:
    """The kind called `name`; TaskValidationError on field 'kind' listing the known kinds."""
    kinds = load_kinds()
    kind = kinds.get(name) if isinstance(name, str) else None
    if kind is None:
        raise TaskValidationError("kind", f"unknown agent kind {name!r}; known kinds: {', '.join(sorted(kinds))}")
    return kind


def validate_agent(kind: str, config: dict[str, Any]) -> None:
    """Check an agent's kind and config; the validator TaskQueueService(validate_agent=...) takes."""
    get_kind(kind).validate(config)


def payload_rules(kind_name: str) -> Callable[[Any, str | None], None] | None:
    """The check a new task's payload gets at enqueue for agents of the kind `kind_name` (the
    service's `payload_rules` hook), or None: the kind's `validate_payload`, and for a coding
    agent, a folder to work in (a repository, or ``payload.workdir``)."""
    kind = load_kinds().get(kind_name)
    validate = getattr(kind, "validate_payload", None)
    if kind is None or not callable(validate):
        return None
    coding = isinstance(kind, CodingAgentKind)

    def check(payload: Any, repo: str | None) -> None:
        validate(payload)
        if coding and repo is None and not payload.get("workdir"):
            raise TaskValidationError(
                "repo", f"a {kind.name} task works in a repository: give one (--repo NAME) or payload.workdir"
            )

    return check
