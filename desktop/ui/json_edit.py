"""JsonEdit: a plain-text JSON editor that checks what is typed, as it is typed."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from desktop.errors import TaskValidationError

CHECK_DELAY_MS = 250


def parse_json(field: str, text: str, *, empty: Any = None, require_object: bool = False) -> Any:
    """`text` as a JSON value (`empty` for blank text); TaskValidationError naming line and column."""
    if not text.strip():
        return empty
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskValidationError(
            field, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if require_object and not isinstance(value, dict):
        raise TaskValidationError(field, "must be a JSON object, such as {\"key\": \"value\"}")
    return value


class JsonEdit(QPlainTextEdit):
    """Edits a JSON value; `checked` reports '' when the text parses, else what is wrong.

    Signals:
        checked(str): emitted a moment after each edit with the error message, or ''.
    """

    checked = Signal(str)

    def __init__(
        self, field: str, parent: QWidget | None = None, *, empty: Any = None, require_object: bool = False
    ) -> None:
        super().__init__(parent)
        self.field = field
        self.empty = empty
        self.require_object = require_object
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setTabChangesFocus(True)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check)
        self.textChanged.connect(self._timer.start)

    def set_value(self, value: Any) -> None:
        self.setPlainText("" if value is None else json.dumps(value, indent=2, ensure_ascii=False))

    def value(self) -> Any:
        """The parsed value; raises TaskValidationError if the text is not valid JSON."""
        return parse_json(self.field, self.toPlainText(), empty=self.empty, require_object=self.require_object)

    def check(self) -> str:
        """Check now; emit and return the error message ('' when the text is valid)."""
        self._timer.stop()
        try:
            self.value()
        except TaskValidationError as exc:
            message = exc.rule[:1].upper() + exc.rule[1:]
        else:
            message = ""
        self.checked.emit(message)
        return message
