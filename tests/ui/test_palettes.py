"""The window follows a light or a dark palette, and its status colours stay readable on both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from desktop.queue import TaskQueueService, TaskStatus
from desktop.ui.status_style import COLOUR_NAMES, is_dark, status_colour
from desktop.ui.task_model import TASK_ROLE
from desktop.ui.theme import ColorScheme

R = QPalette.ColorRole


def contrast(a: QColor, b: QColor) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""

    def luminance(colour: QColor) -> float:
        def channel(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.fixture
def scheme(qapp: QApplication) -> Iterator[type[ColorScheme]]:
    """ColorScheme, with the application's own style and palette put back afterwards."""
    style, palette = qapp.style().name(), QPalette(qapp.palette())
    yield ColorScheme
    qapp.setStyle(QStyleFactory.create(style))
    qapp.setPalette(palette)


@pytest.mark.parametrize("name", ["light", "dark"])
def test_the_window_follows_the_palette_and_status_colours_stay_readable(
    make_window, queue: TaskQueueService, qtbot, qapp: QApplication, scheme: type[ColorScheme], name: str
) -> None:
    scheme(qapp, name)
    palette = qapp.palette()
    assert is_dark(palette) is (name == "dark")
    for colour_name in COLOUR_NAMES:
        colour = status_colour(colour_name, palette)
        assert colour is not None
        for role in (R.Base, R.AlternateBase, R.Window):
            assert contrast(colour, palette.color(role)) >= 4.5, (colour_name, role, colour.name())

    queue.add_agent("doomed", "fail", max_retries=0)
    window = make_window()
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000):
        task = queue.enqueue("doomed", None)
    model = window.history.model
    qtbot.waitUntil(lambda: model.row_of(task.id) is not None
                    and model.index(model.row_of(task.id), 0).data(TASK_ROLE).status is TaskStatus.FAILED)
    shown = model.index(model.row_of(task.id), model.column_of("status")).data(Qt.ItemDataRole.ForegroundRole)
    assert shown == status_colour("failed", palette)
    chart = window.stats.chart.view.backgroundBrush().color()
    assert chart == palette.color(R.Base)  # the chart is drawn on the palette's base, not white
    assert is_dark(window.history.view.palette()) is (name == "dark")
    image = window.grab().toImage()  # what is drawn follows too: the tables' background
    view = window.history.view
    corner = view.viewport().mapTo(window, view.viewport().rect().bottomRight()) - window.rect().topLeft()
    assert (image.pixelColor(corner.x() - 3, corner.y() - 3).lightnessF() < 0.5) is (name == "dark")


def test_the_system_scheme_is_followed_when_it_changes(qapp: QApplication, scheme: type[ColorScheme]) -> None:
    follower = scheme(qapp, "system")  # the offscreen platform has no scheme of its own: light
    assert not is_dark(qapp.palette())
    hints = QGuiApplication.styleHints()
    follower.system_dark = lambda: True  # the system switches to dark and says so
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert is_dark(qapp.palette()) and qapp.style().name() == "fusion"
    follower.system_dark = lambda: False
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not is_dark(qapp.palette())
