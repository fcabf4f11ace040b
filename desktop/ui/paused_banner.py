"""PausedBanner: a paused queue is obvious: a band above the tables with the number waiting."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from desktop.ui.status_style import plural, status_colour


class PausedBanner(QFrame):
    """Shown while the whole queue is paused. Its text uses the palette's own text colour on a
    tint of the paused colour, so it reads in light and dark themes.

    Signals:
        resume_clicked(): the user pressed Resume.
    """

    resume_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pausedBanner")
        self.text = QLabel(self)
        self.text.setObjectName("pausedText")
        self.text.setWordWrap(True)
        self.resume = QPushButton("Resume", self)
        self.resume.setToolTip("Resume the queue: waiting tasks start again (Ctrl+P)")
        self.resume.clicked.connect(self.resume_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.resume)
        self.hide()

    def show_paused(self, paused: bool, waiting: int) -> None:
        if paused:
            self.text.setText(
                f"<b>The queue is paused.</b> {plural(waiting, 'task')} waiting; running tasks finish, "
                "no new ones start."
            )
        self.setVisible(paused)

    def paintEvent(self, event: QPaintEvent) -> None:
        colour = status_colour("paused", self.palette())
        assert colour is not None
        tint = QColor(colour)
        tint.setAlpha(40)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(colour)
        painter.setBrush(tint)
        painter.drawRoundedRect(self.rect().adjusted(0, 0, -1, -1), 3, 3)
        painter.end()
        super().paintEvent(event)
