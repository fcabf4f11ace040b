"""ThroughputChart: completed and failed tasks per time bucket (minute, hour or six hours).

Completed tasks are bars in the upper plot and failed ones in a strip under it, each on its own
scale: three failures stay visible next to thousands of completions. Both axes count in whole
tasks (an empty chart shows 0 and 1, not 0.2, 0.4...). The bars are updated in place, so a
refresh every two seconds never flickers; background and axes follow the palette (light or dark).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.ui.status_style import status_colour

Series = Sequence[tuple[datetime, int, int]]


class IntegerAxis(pg.AxisItem):  # type: ignore[misc]
    """An axis whose ticks are whole numbers only."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        levels = [(s, o) for s, o in super().tickSpacing(minVal, maxVal, size) if s >= 1 and float(s).is_integer()]
        return levels or [(1.0, 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [f"{round(v):,}" for v in values]


def _plot(parent: pg.GraphicsLayoutWidget, row: int) -> Any:
    item = parent.addPlot(row=row, col=0, axisItems={"left": IntegerAxis("left")})
    item.setMenuEnabled(False)
    item.hideButtons()
    item.setMouseEnabled(x=False, y=False)
    item.showGrid(x=False, y=True, alpha=0.25)
    item.getAxis("left").setWidth(44)  # both plots' axes line up whatever the numbers' widths
    return item


class ThroughputChart(QWidget):
    """Completed (green, above) and failed (red, below) tasks per bucket, newest at 0."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget(self)
        self.view.setMinimumHeight(110)
        self.view.ci.setSpacing(0)
        self.done_plot = _plot(self.view, 0)  # the legend names the colours: no axis titles to squeeze
        self.failed_plot = _plot(self.view, 1)
        self.failed_plot.setXLink(self.done_plot)
        self.done_plot.getAxis("bottom").setStyle(showValues=False)
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 1)
        self.legend = QLabel(self)
        self.legend.setObjectName("chartLegend")
        self.completed = pg.BarGraphItem(x=[0.0], height=[0.0], width=0.8, pen=None)
        self.failed = pg.BarGraphItem(x=[0.0], height=[0.0], width=0.8, pen=None)
        self.done_plot.addItem(self.completed)
        self.failed_plot.addItem(self.failed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.legend)
        layout.addWidget(self.view, 1)
        self._shape: tuple[int, float, float] | None = None
        self._last: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self._per = "per minute"
        self._apply_palette()
        self.set_series([], 60.0, 60.0, "minutes ago")

    def set_series(self, series: Series, bucket_s: float, unit_s: float, unit_label: str) -> None:
        """Show (bucket start, completed, failed) rows, oldest first, the last one current.

        `bucket_s` is a bucket's length, `unit_s` the x axis' unit (minutes ago, hours ago...).
        """
        rows = list(series)
        shape = (len(rows), bucket_s, unit_s)
        if shape != self._shape:
            self._shape = shape
            width = bucket_s / unit_s
            x = np.arange(-len(rows) + 1, 1, dtype=float) * width
            for bars in (self.completed, self.failed):
                bars.setOpts(x=x, width=width * 0.8, height=np.zeros(len(rows)))
            for plot in (self.done_plot, self.failed_plot):
                plot.setXRange(-len(rows) * width + width / 2, width / 2, padding=0)
            self.failed_plot.setLabel("bottom", unit_label, color=self.palette().color(QPalette.ColorRole.Text).name())
            self._per = {60.0: "per minute", 3600.0: "per hour"}.get(bucket_s, f"per {bucket_s / 3600:g} hours")
            self._last = None
            self._show_legend()
        done = tuple(r[1] for r in rows)
        failed = tuple(r[2] for r in rows)
        if self._last == (done, failed):
            return
        self._last = (done, failed)
        self.completed.setOpts(height=np.asarray(done, dtype=float))
        self.failed.setOpts(height=np.asarray(failed, dtype=float))
        self.done_plot.setYRange(0, max(1.0, max(done, default=0) * 1.1), padding=0)
        self.failed_plot.setYRange(0, max(1.0, max(failed, default=0) * 1.15), padding=0)

    @property
    def bucket_count(self) -> int:
        return self._shape[0] if self._shape else 0

    @property
    def totals(self) -> tuple[int, int]:
        """Completed and failed tasks shown, summed over the range (for tests and tooltips)."""
        if self._last is None:
            return 0, 0
        return sum(self._last[0]), sum(self._last[1])

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _show_legend(self) -> None:
        palette = self.palette()
        done, failed = status_colour("completed", palette), status_colour("failed", palette)
        assert done is not None and failed is not None
        self.legend.setText(
            f'<span style="color:{done.name()}">■</span> completed&nbsp;&nbsp;'
            f'<span style="color:{failed.name()}">■</span> failed&nbsp;&nbsp;({self._per})'
        )

    def _apply_palette(self) -> None:
        palette = self.palette()
        self.view.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        self.completed.setOpts(brush=status_colour("completed", palette))
        self.failed.setOpts(brush=status_colour("failed", palette))
        for plot in (self.done_plot, self.failed_plot):
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Mid)))
                axis.setTextPen(pg.mkPen(text))
                if axis.labelText:
                    axis.setLabel(axis.labelText, color=text.name())
        self._show_legend()
