"""The main toolbar: Pause/Resume, New task, Retry, Cancel and Settings, each with a shortcut."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import QMainWindow, QStyle, QTabWidget, QWidget

from desktop.ui.status_style import is_dark

SP = QStyle.StandardPixmap
ICON_SIZES = (16, 24, 32)


def style_icon(widget: QWidget, pixmap: QStyle.StandardPixmap, theme: str = "") -> QIcon:
    """The theme's icon if there is one, else the style's; on a dark palette the style's icons
    (drawn for light backgrounds) get their lightness inverted, hues kept, so they show."""
    if theme and QIcon.hasThemeIcon(theme):
        return QIcon.fromTheme(theme)
    icon = widget.style().standardIcon(pixmap)
    if not is_dark(widget.palette()):
        return icon
    inverted = QIcon()
    for size in ICON_SIZES:
        image = icon.pixmap(size, size).toImage().convertToFormat(QImage.Format.Format_ARGB32)
        for y in range(image.height()):
            for x in range(image.width()):
                colour = image.pixelColor(x, y)
                if colour.alpha():
                    hue, saturation, lightness, alpha = colour.getHslF()
                    image.setPixelColor(x, y, QColor.fromHslF(hue, saturation, 1.0 - lightness, alpha))
        inverted.addPixmap(QPixmap.fromImage(image))
    return inverted


@dataclass(frozen=True)
class ToolbarActions:
    pause: QAction  # checkable: checked while the whole queue is paused
    new_task: QAction
    retry: QAction
    cancel: QAction
    settings: QAction


def _action(window: QMainWindow, text: str, tip: str, shortcut: str, icon: QStyle.StandardPixmap, theme: str) -> QAction:
    """An action with the theme's icon (the style's as a fallback), a shortcut and a tooltip naming it."""
    action = QAction(style_icon(window, icon, theme), text, window)
    action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})")
    action.setStatusTip(tip)
    return action


def build_toolbar(window: QMainWindow, tabs: Sequence[QWidget] = ()) -> ToolbarActions:
    """Add the toolbar to `window`; Ctrl+1, Ctrl+2... switch to the given tab pages."""
    actions = ToolbarActions(
        pause=_action(window, "Pause", "Pause the whole queue: running tasks finish, no new ones start",
                      "Ctrl+P", SP.SP_MediaPause, "media-playback-pause"),
        new_task=_action(window, "New task", "Add a task to the queue", "Ctrl+N", SP.SP_FileIcon, "document-new"),
        retry=_action(window, "Retry", "Run the selected failed, cancelled or retrying tasks again now",
                      "Ctrl+R", SP.SP_BrowserReload, "view-refresh"),
        cancel=_action(window, "Cancel", "Cancel the selected unfinished tasks",
                       "Ctrl+K", SP.SP_DialogCancelButton, "process-stop"),
        settings=_action(window, "Settings", "Profile, concurrency, timeouts, retries…",
                         "Ctrl+,", SP.SP_FileDialogDetailedView, "preferences-system"),
    )
    actions.pause.setObjectName("pauseAction")
    actions.pause.setCheckable(True)
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.addAction(actions.pause)
    toolbar.addSeparator()
    for action in (actions.new_task, actions.retry, actions.cancel):
        toolbar.addAction(action)
    toolbar.addSeparator()
    toolbar.addAction(actions.settings)
    for number, page in enumerate(tabs, start=1):
        switch = QAction(window)
        switch.setShortcut(QKeySequence(f"Ctrl+{number}"))
        switch.triggered.connect(lambda _=False, p=page: _show_page(p))
        window.addAction(switch)
    return actions


def _show_page(page: QWidget) -> None:
    parent = page.parentWidget()
    while parent is not None and not isinstance(parent, QTabWidget):
        parent = parent.parentWidget()
    if parent is not None:
        parent.setCurrentWidget(page)
