"""Showing errors to the user: a message they can act on, never a traceback (that goes to the log)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop import paths
from desktop.errors import AgentQueueError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def user_message(exc: BaseException) -> str:
    """The text to show for `exc`: its own message if it is meant for the user, else a short note."""
    if isinstance(exc, AgentQueueError):
        return str(exc)
    name = type(exc).__name__
    return (
        f"Something went wrong ({name}: {exc}). Nothing else was changed. "
        f"The details are in the log file in {paths.log_dir()}."
    )


def show_error(parent: QWidget | None, exc: BaseException, title: str = "Agent Queue") -> QMessageBox:
    """Show `exc` in a window-modal box that does not block the event loop; returns the box."""
    if not isinstance(exc, AgentQueueError):
        log.error("%s: %s", title, exc, exc_info=exc)
    box = QMessageBox(
        QMessageBox.Icon.Warning if isinstance(exc, AgentQueueError) else QMessageBox.Icon.Critical,
        title,
        user_message(exc),
        QMessageBox.StandardButton.Ok,
        parent,
    )
    box.setObjectName("errorBox")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()
    return box


def guarded(title: str) -> Callable[[F], F]:
    """Decorate a slot of a QWidget: an exception in it is shown with `show_error`, not raised.

    Qt slots must not let exceptions escape: PySide prints them and the action silently fails.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(self: QWidget, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown to the user, logged if unexpected
                show_error(self if isinstance(self, QWidget) else None, exc, title)
                return None

        return wrapper  # type: ignore[return-value]

    return decorate
