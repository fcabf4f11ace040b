"""Following the system's light or dark appearance.

Most platform styles give Qt the system's palette themselves. Where the system asks for dark but
the style's palette stays light (Windows' classic styles, plain X11, the offscreen platform),
the app switches to the Fusion style with a dark palette, and back when the system changes its
mind. AGENTQ_COLOR_SCHEME=light or dark chooses one whatever the system says (for screenshots).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

log = logging.getLogger(__name__)
ENV = "AGENTQ_COLOR_SCHEME"
R = QPalette.ColorRole
G = QPalette.ColorGroup


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style, with readable disabled text and links."""
    palette = QPalette()
    colours = {
        R.Window: "#2b2b2b", R.WindowText: "#e6e6e6", R.Base: "#1f1f1f", R.AlternateBase: "#292929",
        R.ToolTipBase: "#3a3a3a", R.ToolTipText: "#f0f0f0", R.PlaceholderText: "#8c8c8c",
        R.Text: "#e6e6e6", R.Button: "#353535", R.ButtonText: "#e6e6e6", R.BrightText: "#ff6b6b",
        R.Light: "#4a4a4a", R.Midlight: "#3d3d3d", R.Mid: "#555555", R.Dark: "#1a1a1a", R.Shadow: "#101010",
        R.Highlight: "#2f6fd1", R.HighlightedText: "#ffffff", R.Link: "#6ea8ff", R.LinkVisited: "#bf9cf0",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role, colour in {R.WindowText: "#8a8a8a", R.Text: "#8a8a8a", R.ButtonText: "#8a8a8a",
                         R.Highlight: "#3d3d3d", R.HighlightedText: "#a0a0a0"}.items():
        palette.setColor(G.Disabled, role, QColor(colour))
    return palette


def palette_is_dark(palette: QPalette) -> bool:
    return palette.color(R.Window).lightnessF() < 0.5


def wanted_scheme() -> str:
    """'light', 'dark', or 'system' (the default, and for any other value of AGENTQ_COLOR_SCHEME)."""
    value = os.environ.get(ENV, "").strip().lower()
    return value if value in ("light", "dark") else "system"


def system_is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


class ColorScheme:
    """Applies the wanted scheme to the application now and whenever the system's changes.

    Attributes:
        system_dark: says whether the system asks for dark (tests replace it).
    """

    def __init__(self, app: QApplication, scheme: str | None = None) -> None:
        self.app = app
        self.scheme = scheme or wanted_scheme()
        self.system_dark: Callable[[], bool] = system_is_dark
        self.apply()
        if self.scheme == "system":
            QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: self.apply())

    def apply(self) -> None:
        dark = self.system_dark() if self.scheme == "system" else self.scheme == "dark"
        if dark == palette_is_dark(self.app.palette()):
            return
        if dark:
            self.app.setStyle(QStyleFactory.create("Fusion"))
            self.app.setPalette(dark_palette())
        else:
            self.app.setPalette(self.app.style().standardPalette())
        log.info("colour scheme: %s", "dark" if dark else "light")
