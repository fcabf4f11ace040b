"""Inline form errors: a message under the offending field, and the field outlined."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from desktop.errors import TaskValidationError
from desktop.ui.status_style import status_colour


def _error_colour() -> str:
    colour = status_colour("error")
    return colour.name() if colour is not None else "red"


def _outline() -> str:
    return f"border: 1px solid {_error_colour()}; border-radius: 2px;"


def error_label(parent: QWidget | None = None) -> QLabel:
    """A hidden, wrapping label in the error colour (of the palette in use)."""
    label = QLabel(parent)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {_error_colour()};")
    label.setObjectName("fieldError")
    label.hide()
    return label


class FieldErrors:
    """Maps field names (as TaskValidationError.field names them) to a widget and its label.

    A field `config.argv[0]` falls back to the registered `config`; a field nobody registered
    shows in the general label.
    """

    def __init__(self, general: QLabel) -> None:
        self.general = general
        self._fields: dict[str, tuple[QWidget, QLabel]] = {}
        self._styles: dict[QWidget, str] = {}

    def register(self, name: str, widget: QWidget, label: QLabel) -> None:
        self._fields[name] = (widget, label)
        self._styles[widget] = widget.styleSheet()

    def clear(self, name: str | None = None) -> None:
        items = self._fields.items() if name is None else [(name, self._fields[name])]
        for _, (widget, label) in items:
            label.hide()
            label.clear()
            widget.setStyleSheet(self._styles.get(widget, ""))
        if name is None:
            self.general.hide()
            self.general.clear()

    def show(self, name: str, message: str) -> None:
        """Show `message` next to field `name` (or in the general label) and focus the field."""
        key = self._resolve(name)
        if key is None:
            self.general.setText(message)
            self.general.show()
            return
        widget, label = self._fields[key]
        label.setText(message)
        label.show()
        widget.setStyleSheet(self._styles.get(widget, "") + _outline())
        widget.setFocus()

    def show_validation(self, exc: TaskValidationError) -> None:
        """Show the rule at the field it names: 'config.argv' shows as 'argv: …' under config."""
        key = self._resolve(exc.field)
        if key == exc.field:
            text = exc.rule[:1].upper() + exc.rule[1:]
        elif key is None:
            text = f"{exc.field}: {exc.rule}"
        else:
            text = f"{exc.field[len(key):].lstrip('.')}: {exc.rule}"
        self.show(exc.field, text)

    def message(self, name: str) -> str:
        """The message shown for field `name` now ('' if none): handy for tests."""
        widget_label = self._fields.get(name)
        if widget_label is None:
            return self.general.text() if not self.general.isHidden() else ""
        label = widget_label[1]
        return label.text() if not label.isHidden() else ""

    def has_errors(self) -> bool:
        return any(not label.isHidden() for _, label in self._fields.values()) or not self.general.isHidden()

    def _resolve(self, name: str) -> str | None:
        while name:
            if name in self._fields:
                return name
            cut = max(name.rfind("."), name.rfind("["))
            name = name[:cut] if cut > 0 else ""
        return None
