"""AppTray: the tray icon showing the queue's state, with a menu and failure notifications."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from desktop.queue import Task
from desktop.ui.icon import app_icon
from desktop.ui.status_style import one_line


class AppTray(QObject):
    """Does nothing where the desktop has no system tray (check `available`)."""

    def __init__(
        self,
        window: QWidget,
        pause_action: QAction,
        show_window: Callable[[], None],
        quit_app: Callable[[], None],
    ) -> None:
        super().__init__(window)
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: QSystemTrayIcon | None = None
        self._state = ""
        self._icons: dict[str, QIcon] = {}
        if not self.available:
            return
        self.tray = QSystemTrayIcon(app_icon("running"), self)
        menu = QMenu(window)
        menu.addAction("Show Agent Queue", show_window)
        menu.addAction(pause_action)
        menu.addSeparator()
        menu.addAction("Quit", quit_app)
        self.tray.setContextMenu(menu)
        self.tray.activated.connect(
            lambda reason: show_window() if reason == QSystemTrayIcon.ActivationReason.Trigger else None
        )
        self.tray.setToolTip("Agent Queue")
        self.tray.show()

    def update_state(self, state: str, running: int, pending: int) -> None:
        """state: running, paused, stopping or stopped."""
        if self.tray is None:
            return
        if state != self._state:
            self._state = state
            icon_state = "paused" if state == "paused" else "stopped" if state in ("stopping", "stopped") else "running"
            if icon_state not in self._icons:
                self._icons[icon_state] = app_icon(icon_state)
            self.tray.setIcon(self._icons[icon_state])
        self.tray.setToolTip(f"Agent Queue: {state}\n{running} running · {pending} pending")

    def notify_failed(self, task: Task) -> bool:
        """A task failed for good: say so in a tray notification. False where there is no tray."""
        if self.tray is None or not self.tray.isVisible():
            return False
        self.tray.showMessage(
            f"Task {task.id} failed",
            f"{task.agent}: {one_line(task.last_error, 200) or 'no error message'}",
            QSystemTrayIcon.MessageIcon.Warning,
            8000,
        )
        return True

    def notify(self, title: str, text: str) -> None:
        if self.tray is not None and self.tray.isVisible():
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 5000)

    def hide(self) -> None:
        if self.tray is not None:
            self.tray.hide()
