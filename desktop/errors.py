"""Errors the user can act on: each message names what is wrong and what to do about it."""

from __future__ import annotations


class AgentQueueError(Exception):
    """Base class for errors whose message is meant for the user, not a traceback."""


class TaskValidationError(AgentQueueError, ValueError):
    """Input broke a rule; nothing was written.

    Attributes:
        field: the name of the offending argument or key.
        rule: what the value must satisfy.
    """

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class QueueFullError(TaskValidationError):
    """An enqueue would take an agent past its max_pending waiting tasks (backpressure; HTTP 429)."""


class NotFoundError(AgentQueueError, LookupError):
    """A task or agent named by the caller does not exist."""


class TaskStateError(AgentQueueError):
    """The operation does not apply to the task in its current status."""


class LeaseLostError(AgentQueueError):
    """The caller's lease token is no longer the task's current one.

    The task was recovered (the lease expired) or finished by someone else; the caller must drop
    its result instead of overwriting the new owner's work.
    """


class DatabaseFileError(AgentQueueError):
    """The database cannot be used: not a database, corrupt, read-only, full or too old a SQLite.

    The file is never modified when this is raised.
    """
