"""PromptDialog: a prompt to write or edit, then one write with it (a follow-up, a retry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QWidget

from desktop.errors import TaskValidationError
from desktop.ui.form_dialog import FormDialog
from desktop.ui.jobs import Jobs


class PromptDialog(FormDialog):
    """OK (or Ctrl+Enter) runs `write(prompt)` on the write thread; an empty prompt is refused.

    Signals:
        done(object): what the write returned (a Task).
    """

    done = Signal(object)

    def __init__(
        self, title: str, about: str, prompt: str, write: Callable[[str], Any], jobs: Jobs, ok_text: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title, jobs, parent)
        self._write = write
        note = QLabel(about, self)
        note.setWordWrap(True)
        self.form.addRow(note)
        self.prompt = QPlainTextEdit(self)
        self.prompt.setObjectName("promptEdit")
        self.prompt.setPlainText(prompt)
        self.prompt.setMinimumHeight(160)
        self.add_field("prompt", "&Prompt:", self.prompt, "Ctrl+Enter sends it.")
        self.ok_button.setText(ok_text)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, self.submit)
        self.fit_size(600, 360)
        self.prompt.setFocus()

    def collect(self) -> Callable[[], Any]:
        text = self.prompt.toPlainText().strip()
        if not text:
            raise TaskValidationError("prompt", "must not be empty: say what the agent should do")
        write = self._write
        return lambda: write(text)

    def succeeded(self, result: Any) -> None:
        self.done.emit(result)
        super().succeeded(result)
