"""Agent kinds: what actually runs a task (a command, an HTTP call, a Python function, ...).

Nothing here imports Qt, so the headless worker and the tests use the kinds as they are.
"""

from desktop.agents.base import (
    AgentKind,
    PermanentError,
    TaskCancelled,
    TaskContext,
    TaskTimeout,
)
from desktop.agents.builtin import EchoKind, FailedOnPurpose, FailKind, SleepKind
from desktop.agents.command import CommandFailed, CommandKind
from desktop.agents.http import HttpError, HttpKind
from desktop.agents.placeholders import fill, names
from desktop.agents.python import PythonKind
from desktop.agents.registry import (
    ENTRY_POINT_GROUP,
    builtin_kinds,
    get_kind,
    load_kinds,
    validate_agent,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AgentKind",
    "CommandFailed",
    "CommandKind",
    "EchoKind",
    "FailKind",
    "FailedOnPurpose",
    "HttpError",
    "HttpKind",
    "PermanentError",
    "PythonKind",
    "SleepKind",
    "TaskCancelled",
    "TaskContext",
    "TaskTimeout",
    "builtin_kinds",
    "fill",
    "get_kind",
    "load_kinds",
    "names",
    "validate_agent",
]
