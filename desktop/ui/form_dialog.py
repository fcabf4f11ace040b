"""FormDialog: a dialog whose OK checks the form, then writes on the write thread.

The dialog stays open until the write succeeded; a refusal (TaskValidationError) shows next to
the field it names, anything else under the form. Nothing is half-written: each write is one
service call, one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.errors import AgentQueueError, TaskValidationError
from desktop.ui.error_report import user_message
from desktop.ui.field_errors import FieldErrors, error_label
from desktop.ui.jobs import Jobs
from desktop.ui.status_style import hint_colour


class FormDialog(QDialog):
    """Subclasses add fields with add_field, and implement collect() and succeeded()."""

    def __init__(self, title: str, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.jobs = jobs
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.general_error = error_label(self)
        self.errors = FieldErrors(self.general_error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.general_error)
        layout.addWidget(self.buttons)
        self._busy = False
        self.result_value: Any = None

    @property
    def ok_button(self) -> Any:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def add_field(self, name: str, label: str, widget: QWidget, hint: str = "") -> QWidget:
        """A form row: `widget`, an optional hint under it, and its (hidden) error label.

        The row spans the whole field column, so a hint wraps at the dialog's width (not the
        width of a small spin box, where it was cut off); a widget that does not grow keeps its
        own width, on the left.
        """
        box = QWidget(self)
        box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        grows = bool(widget.sizePolicy().horizontalPolicy().value & QSizePolicy.PolicyFlag.ExpandFlag.value)
        column.addWidget(widget, 0, Qt.AlignmentFlag(0) if grows else Qt.AlignmentFlag.AlignLeft)
        if hint:
            note = QLabel(hint, box)
            note.setObjectName("fieldHint")
            note.setWordWrap(True)
            palette = note.palette()
            palette.setColor(QPalette.ColorRole.WindowText, hint_colour(palette))
            note.setPalette(palette)
            column.addWidget(note)
        errors = error_label(box)
        column.addWidget(errors)
        self.form.addRow(label, box)
        self.errors.register(name, widget, errors)
        return widget

    def fit_size(self, width: int, height: int = 0) -> None:
        """Open at `width` (and at least `height`) or the form's own size if larger, never larger
        than the screen's free area (a 1024 x 600 netbook included)."""
        hint = self.sizeHint()
        width, height = max(width, hint.width()), max(height, hint.height())
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None:
            width, height = min(width, screen.width() - 40), min(height, screen.height() - 60)
        self.resize(width, height)

    # -- for subclasses -------------------------------------------------------------------------

    def collect(self) -> Callable[[], Any]:
        """Check the form; return the write to run (raise TaskValidationError for a bad field)."""
        raise NotImplementedError

    def succeeded(self, result: Any) -> None:
        """The write worked: the default keeps its result and closes the dialog."""
        self.result_value = result
        self.accept()

    # -- flow -----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._busy

    def submit(self) -> None:
        if self._busy:
            return
        self.errors.clear()
        try:
            work = self.collect()
        except TaskValidationError as exc:
            self.errors.show_validation(exc)
            return
        self._set_busy(True)
        self.jobs.write(work, self._done, self._failed, owner=self, name="dialog")

    def _done(self, result: Any) -> None:
        self._set_busy(False)
        self.succeeded(result)

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        if isinstance(exc, TaskValidationError):
            self.errors.show_validation(exc)
        elif isinstance(exc, AgentQueueError):
            self.errors.show("", str(exc))
        else:
            self.errors.show("", user_message(exc))

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.ok_button.setEnabled(not busy)
        self.setCursor(Qt.CursorShape.BusyCursor if busy else Qt.CursorShape.ArrowCursor)
