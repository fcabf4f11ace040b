"""The Help menu: keyboard shortcuts (F1), where Agent Queue keeps its data, and About."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import PySide6
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop import paths
from desktop.config import settings_path

# What the keys do, in the order the dialog lists them (the window's actions use the same keys).
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+N", "New task (with every option)"),
    ("Ctrl+L", "Go to the prompt bar"),
    ("Ctrl+Enter", "Queue the prompt typed in the prompt bar"),
    ("Enter, double-click", "Open the selected task's details (any table)"),
    ("Menu key, right-click", "Open, retry, cancel, copy the id or the prompt of the selected tasks"),
    ("Ctrl+R", "Retry the selected failed, cancelled or retrying tasks"),
    ("Ctrl+K", "Cancel the selected unfinished tasks (a running one is asked about first)"),
    ("Ctrl+P", "Pause or resume the whole queue"),
    ("Ctrl+1, Ctrl+2, Ctrl+3", "Show History, Running, Failed"),
    ("Ctrl+F", "Search the history"),
    ("Ctrl+Home, Ctrl+End", "Jump to the first or the last task of a list (the oldest, newest first)"),
    ("F5", "Load the history again from the top"),
    ("Ctrl+Shift+A", "Add an agent"),
    ("Ctrl+,", "Settings"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit (running tasks are asked about first)"),
)


def native(keys: str) -> str:
    """'Ctrl+K' as this platform writes it ('⌘K' on macOS); prose such as 'double-click' is kept."""
    parts = []
    for part in keys.split(", "):
        sequence = QKeySequence(part)
        text = sequence.toString(QKeySequence.SequenceFormat.NativeText)
        parts.append(text if text and sequence.toString() == part else part)
    return ", ".join(parts)


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        for row, (keys, what) in enumerate(SHORTCUTS):
            key_label = QLabel(f"<b>{native(keys)}</b>", self)
            grid.addWidget(key_label, row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            text = QLabel(what, self)
            text.setWordWrap(True)
            grid.addWidget(text, row, 1)
        grid.setColumnStretch(1, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(buttons)


def data_places(database_url: str) -> list[tuple[str, Path | None, str]]:
    """(what, folder to open or None, text) for each place Agent Queue keeps something."""
    database = database_url.removeprefix("sqlite:///") if database_url.startswith("sqlite:///") else None
    return [
        ("Queue database", Path(database).parent if database else None, database or database_url),
        ("Settings", settings_path().parent, str(settings_path())),
        ("Log files", paths.log_dir(), str(paths.log_dir())),
        ("Task output logs", paths.data_dir() / "task-logs", str(paths.data_dir() / "task-logs")),
    ]


class DataPlacesDialog(QDialog):
    """Where the database, settings and logs are, each with a button that opens its folder."""

    def __init__(self, database_url: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dataPlacesDialog")
        self.setWindowTitle("Where Agent Queue keeps its data")
        grid = QGridLayout()
        for row, (what, folder, text) in enumerate(data_places(database_url)):
            grid.addWidget(QLabel(f"<b>{what}</b>", self), row, 0)
            place = QLabel(text, self)
            place.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(place, row, 1)
            if folder is not None:
                button = QPushButton("Open folder", self)
                button.setEnabled(folder.is_dir())
                button.clicked.connect(lambda _=False, f=folder: QDesktopServices.openUrl(QUrl.fromLocalFile(str(f))))
                grid.addWidget(button, row, 2)
        grid.setColumnStretch(1, 1)
        note = QLabel(
            "AGENTQ_DATA_DIR, AGENTQ_CONFIG_DIR, AGENTQ_LOG_DIR and AGENTQ_DATABASE_URL move them; "
            "Settings → Database opens another queue.", self,
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(note)
        layout.addWidget(buttons)


def about_text(database_url: str) -> str:
    try:
        version = metadata.version("agent-queue")
    except metadata.PackageNotFoundError:
        version = "development"
    return (
        f"<b>Agent Queue {version}</b><p>A durable, prioritised queue of work for local agents: "
        "coding agents in your repositories, scripts, webhooks and Python functions.</p>"
        f"<p>Queue: {database_url}<br>Qt {qVersion()}, PySide6 {PySide6.__version__}</p>"
    )


def build_help_menu(window: QMainWindow, database_url: str) -> QMenu:
    """Add the Help menu to `window`'s menu bar; F1 opens the shortcuts."""
    menu = window.menuBar().addMenu("&Help")
    shortcuts = menu.addAction("&Keyboard shortcuts", lambda: _open(ShortcutsDialog(window)))
    shortcuts.setShortcut(QKeySequence("F1"))
    shortcuts.setObjectName("shortcutsAction")
    menu.addAction("&Where data lives", lambda: _open(DataPlacesDialog(database_url, window)))
    menu.addSeparator()
    menu.addAction("&About Agent Queue",
                   lambda: QMessageBox.about(window, "About Agent Queue", about_text(database_url)))
    return menu


def _open(dialog: QDialog) -> QDialog:
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
