"""Closing while tasks run: keep running in the tray, wait for the tasks, or stop them now.

Stopping gives running tasks back to the queue (they become pending, no attempt is counted and
nothing is marked failed). The pool is stopped on a helper thread so the window keeps painting.
"""

from __future__ import annotations

import enum
import threading

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.workers.pool import WorkerPool

WAIT_FOREVER_S = 7 * 86_400.0


class CloseChoice(enum.Enum):
    TRAY = "tray"
    WAIT = "wait"
    STOP = "stop"
    CANCEL = "cancel"


def ask_close_choice(parent: QWidget | None, running: int, tray: bool) -> CloseChoice:
    """Ask what to do with `running` tasks when the window closes."""
    tasks = "1 task is" if running == 1 else f"{running} tasks are"
    title = "A task is running" if running == 1 else "Tasks are running"
    box = QMessageBox(QMessageBox.Icon.Question, title, f"{tasks} still running.", parent=parent)
    box.setInformativeText(
        "Stopping gives it back to the queue: it runs again later, nothing is marked failed." if running == 1 else
        "Stopping gives them back to the queue: they run again later, nothing is marked failed."
    )
    buttons: dict[object, CloseChoice] = {}
    if tray:
        buttons[box.addButton("Keep running in the tray", QMessageBox.ButtonRole.AcceptRole)] = CloseChoice.TRAY
    wait = "Wait for it" if running == 1 else "Wait for them"
    buttons[box.addButton(wait, QMessageBox.ButtonRole.AcceptRole)] = CloseChoice.WAIT
    buttons[box.addButton("Stop now", QMessageBox.ButtonRole.DestructiveRole)] = CloseChoice.STOP
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    buttons[cancel] = CloseChoice.CANCEL
    box.setDefaultButton(cancel)
    box.exec()
    return buttons.get(box.clickedButton(), CloseChoice.CANCEL)


class PoolShutdown(QObject):
    """Stops `pool` on a helper thread; shows progress, with a Stop now button while waiting.

    Signals:
        finished(): the pool has stopped.
    """

    finished = Signal()

    def __init__(self, pool: WorkerPool, grace_s: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.grace_s = grace_s
        self._thread = threading.Thread(target=self._stop, name="agentq-ui-shutdown", daemon=True)
        self.dialog = QDialog(parent)
        self.dialog.setWindowTitle("Agent Queue")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.label = QLabel(self.dialog)
        self.stop_button = QPushButton("Stop now", self.dialog)
        self.stop_button.setToolTip("Give the running tasks back to the queue and quit")
        self.stop_button.clicked.connect(self.stop_now)
        layout = QVBoxLayout(self.dialog)
        layout.addWidget(self.label)
        layout.addWidget(self.stop_button, 0, Qt.AlignmentFlag.AlignRight)
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._check)

    def start(self) -> None:
        self._update_label()
        self.stop_button.setVisible(self.grace_s > 0)
        if self.pool.running_tasks():
            self.dialog.show()
        self._thread.start()
        self._timer.start()

    def stop_now(self) -> None:
        """Ask every running action to stop; the pool releases their tasks."""
        self.grace_s = 0
        self.stop_button.setEnabled(False)
        self.pool.stop_now()

    def _stop(self) -> None:
        self.pool.stop(grace_s=self.grace_s)

    def _update_label(self) -> None:
        count = len(self.pool.running_tasks())
        tasks = "1 running task" if count == 1 else f"{count} running tasks"
        verb = "Waiting for" if self.grace_s > 0 else "Stopping"
        self.label.setText(f"{verb} {tasks}…")

    def _check(self) -> None:
        if self._thread.is_alive():
            self._update_label()
            return
        self._timer.stop()
        self.dialog.hide()
        self.dialog.deleteLater()
        self.finished.emit()
