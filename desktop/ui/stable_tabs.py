"""StableTabBar: tabs whose width does not change with the count in their title.

"Running (1)" becoming "Running (12)" would widen the tab and slide the tabs after it under the
mouse. Each tab is as wide as its title with the count written as the widest five-digit number.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QTabBar, QWidget

_COUNT = re.compile(r"\(([\d,]*)\)")


class StableTabBar(QTabBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setExpanding(False)

    def tabSizeHint(self, index: int) -> QSize:
        """The style's size for the title with its count written as the widest count up to 99,999."""
        size = super().tabSizeHint(index)
        text = self.tabText(index)
        metrics = self.fontMetrics()
        digit = max("0123456789", key=metrics.horizontalAdvance)
        room = f"({digit * 2},{digit * 3})"
        widest = _COUNT.sub(lambda m: room if len(m.group(1)) < len("99,999") else m.group(0), text)
        measure = lambda t: metrics.size(Qt.TextFlag.TextShowMnemonic, t).width()  # noqa: E731 - as QTabBar measures
        return QSize(size.width() - measure(text) + measure(widest), size.height())

    def minimumTabSizeHint(self, index: int) -> QSize:
        return self.tabSizeHint(index)
