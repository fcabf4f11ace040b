"""ThroughputChart: completed and failed tasks per minute over the last hour, as stacked bars.

The bars are created once and their heights updated in place, so a refresh every two seconds
never flickers. Background and axes take the palette's colours, so the chart follows the
light or dark theme; only the bar colours are fixed (the status colours).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.ui.status_style import COMPLETED_COLOUR, FAILED_COLOUR

MINUTES = 60


class ThroughputChart(QWidget):
    """Stacked bars: completed (green) under failed (red), one pair per minute, newest at 0."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(self)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMinimumHeight(150)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "minutes ago")
        item.setLabel("left", "tasks")
        item.showGrid(x=False, y=True, alpha=0.25)
        self.x = np.arange(-MINUTES + 1, 1, dtype=float)
        zeros = np.zeros(MINUTES)
        self.completed = pg.BarGraphItem(x=self.x, height=zeros, width=0.8, brush=COMPLETED_COLOUR, pen=None)
        self.failed = pg.BarGraphItem(x=self.x, y0=zeros, height=zeros, width=0.8, brush=FAILED_COLOUR, pen=None)
        item.addItem(self.completed)
        item.addItem(self.failed)
        self.legend = QLabel(
            f'<span style="color:{COMPLETED_COLOUR.name()}">■</span> completed&nbsp;&nbsp;'
            f'<span style="color:{FAILED_COLOUR.name()}">■</span> failed&nbsp;&nbsp;(per minute, last hour)',
            self,
        )
        item.setXRange(-MINUTES + 0.5, 0.5, padding=0)
        item.setYRange(0, 1, padding=0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        self._last: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self._apply_palette()

    def set_series(self, series: Sequence[tuple[datetime, int, int]]) -> None:
        """Show (minute, completed, failed) rows, oldest first; the last is the current minute."""
        rows = list(series)[-MINUTES:]
        done = [0] * (MINUTES - len(rows)) + [r[1] for r in rows]
        failed = [0] * (MINUTES - len(rows)) + [r[2] for r in rows]
        if self._last == (tuple(done), tuple(failed)):
            return
        self._last = (tuple(done), tuple(failed))
        done_arr = np.asarray(done, dtype=float)
        failed_arr = np.asarray(failed, dtype=float)
        self.completed.setOpts(height=done_arr)
        self.failed.setOpts(y0=done_arr, height=failed_arr)
        top = float((done_arr + failed_arr).max()) if rows else 0.0
        self.plot.getPlotItem().setYRange(0, max(1.0, top * 1.15), padding=0)

    @property
    def totals(self) -> tuple[int, int]:
        """Completed and failed tasks shown, summed over the hour (for tests and tooltips)."""
        if self._last is None:
            return 0, 0
        return sum(self._last[0]), sum(self._last[1])

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        palette = self.palette()
        self.plot.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        item = self.plot.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Mid)))
            axis.setTextPen(pg.mkPen(text))
            axis.setLabel(axis.labelText, color=text.name())
