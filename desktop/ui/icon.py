"""The app icon, drawn at run time with QPainter (packaging adds SVG/PNG files later)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QLinearGradient, QPainter, QPixmap

SIZES = (16, 24, 32, 48, 64, 128, 256)
RUNNING_DOT = QColor("#2e9e50")  # drawn on the icon's own blue, whatever the palette
STATE_COLOURS = {"running": RUNNING_DOT, "paused": QColor("#e08a00"), "stopped": QColor("#8a8a8a")}


def _draw(size: int, state: str | None) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = float(size)
    gradient = QLinearGradient(0, 0, 0, s)
    gradient.setColorAt(0.0, QColor("#4a7fe0"))
    gradient.setColorAt(1.0, QColor("#2c56b5"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(gradient))
    p.drawRoundedRect(QRectF(s * 0.04, s * 0.04, s * 0.92, s * 0.92), s * 0.2, s * 0.2)
    # Three queued jobs: bars of falling width, the first one "in progress".
    p.setBrush(QColor("white"))
    bar_h = s * 0.13
    for i, width in enumerate((0.62, 0.48, 0.34)):
        y = s * (0.24 + i * 0.2)
        p.setOpacity(1.0 - i * 0.25)
        p.drawRoundedRect(QRectF(s * 0.19, y, s * width, bar_h), bar_h / 2, bar_h / 2)
    p.setOpacity(1.0)
    p.setBrush(RUNNING_DOT if state is None else STATE_COLOURS.get(state, RUNNING_DOT))
    p.setPen(QColor("white"))
    dot = s * 0.3
    p.drawEllipse(QRectF(s * 0.66, s * 0.66, dot, dot))
    p.end()
    return pixmap


def app_icon(state: str | None = None) -> QIcon:
    """The icon in every usual size; `state` (running, paused, stopped) colours its corner dot."""
    icon = QIcon()
    for size in SIZES:
        icon.addPixmap(_draw(size, state))
    return icon
