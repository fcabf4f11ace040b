"""Remembering the window: geometry, splitters, column widths, filters and the open tab (QSettings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QSplitter

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow
    from desktop.ui.task_view import TaskTableView


def save_window_state(window: MainWindow) -> None:
    store = window.store
    store.setValue("window/geometry", window.saveGeometry())
    store.setValue("window/state", window.saveState())
    store.setValue("window/splitter", window.splitter.saveState())
    store.setValue("window/left", window.left.saveState())
    store.setValue("window/tab", window.tabs.currentIndex())
    store.setValue("agents/header", window.agents.table.horizontalHeader().saveState())
    for panel in (window.history, window.running, window.failed):
        panel.save_state(store)
    store.sync()


FIRST_SIZE = (1480, 900)
LEFT_SHARE, LEFT_MIN, LEFT_MAX = 0.36, 400, 520  # the left pane on a first start


def restore_window_state(window: MainWindow) -> None:
    """Put the remembered layout back; a first start gets a 1480 x 900 window (or the screen's
    free area, if smaller) with a left pane of 400 to 520 pixels."""
    store = window.store
    geometry = store.value("window/geometry")
    if geometry is None or not window.restoreGeometry(geometry):
        width, height = FIRST_SIZE
        screen = window.screen().availableGeometry() if window.screen() is not None else None
        if screen is not None:
            width, height = min(width, screen.width()), min(height, screen.height())
        window.resize(width, height)
    if store.value("window/splitter") is None:
        width = window.width()
        left = max(LEFT_MIN, min(LEFT_MAX, int(width * LEFT_SHARE)))
        window.splitter.setSizes([left, max(1, width - left)])
    for key, widget in (("window/state", window), ("window/splitter", window.splitter), ("window/left", window.left)):
        value = store.value(key)
        if value is not None:
            widget.restoreState(value)
    value = store.value("agents/header")
    if value is not None:
        window.agents.table.horizontalHeader().restoreState(value)
    for panel in (window.history, window.running, window.failed):
        panel.restore_state(store)
    window.tabs.setCurrentIndex(int(store.value("window/tab", 0) or 0))


def save_split_view(store: QSettings, prefix: str, splitter: QSplitter, view: TaskTableView) -> None:
    """A task panel's splitter and table header, under `prefix/` (failed/, running/)."""
    store.setValue(f"{prefix}/splitter", splitter.saveState())
    store.setValue(f"{prefix}/header", view.horizontalHeader().saveState())


def restore_split_view(store: QSettings, prefix: str, splitter: QSplitter, view: TaskTableView) -> None:
    state = store.value(f"{prefix}/splitter")
    if state is not None:
        splitter.restoreState(state)
    header = view.horizontalHeader()
    state = store.value(f"{prefix}/header")
    if state is not None:
        blocked = header.blockSignals(True)
        header.restoreState(state)
        header.blockSignals(blocked)
        view.sync_sort_indicator()
