"""DiffView: the files a task changed with lines added and removed, and the selected file's unified
diff coloured by Pygments (its diff lexer, a light or dark style to match the palette)."""

from __future__ import annotations

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.jobs import Jobs
from desktop.ui.status_style import is_dark
from desktop.workspaces.review import FilePatch, split_patch

SHOWN_CHARS = 400_000  # of one file's diff; `agentq diff` prints it all
LIGHT_STYLE, DARK_STYLE = "default", "github-dark"


def diff_html(text: str, dark: bool) -> str:
    """A unified diff as HTML with inline colours (no style sheet: QTextBrowser reads it as is)."""
    note = ""
    if len(text) > SHOWN_CHARS:
        cut = text.rfind("\n", 0, SHOWN_CHARS) + 1 or SHOWN_CHARS
        note = f"\n… {len(text) - cut:,} more characters (agentq diff prints the whole patch)\n"
        text = text[:cut]
    formatter = HtmlFormatter(noclasses=True, nobackground=True, style=DARK_STYLE if dark else LIGHT_STYLE)
    return highlight(text + note, DiffLexer(), formatter)


class DiffView(QWidget):
    """`show_patch(patch)` lists its files; selecting one shows its diff (the first at first)."""

    def __init__(self, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.files: list[FilePatch] = []
        self._patch: str | None = None
        self.note = QLabel("", self)
        self.note.setObjectName("diffNote")
        self.note.setWordWrap(True)
        self.note.hide()
        self.table = QTableWidget(0, 3, self)
        self.table.setObjectName("diffFiles")
        self.table.setHorizontalHeaderLabels(["File", "+", "−"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.text = QTextBrowser(self)
        self.text.setObjectName("diffText")
        self.text.setLineWrapMode(QTextBrowser.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText("No changes recorded yet: the patch is read when the agent's run ends.")
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.table)
        split.addWidget(self.text)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setSizes([240, 720])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.note)
        layout.addWidget(split, 1)
        self.table.itemSelectionChanged.connect(self._selected)

    def show_patch(self, patch: str | None, note: str = "") -> None:
        """Show `patch` (None: no patch yet); unchanged text keeps the selection and scroll."""
        if patch == self._patch:
            self._say(note)
            return
        self._patch = patch
        self.files = split_patch(patch or "")
        self._say(note or ("No file changed." if patch is not None and not self.files else ""))
        self.table.setRowCount(len(self.files))
        for row, change in enumerate(self.files):
            cells = (change.path, f"+{change.added}", f"−{change.removed}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(change.path)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        self.text.clear()
        if self.files:
            self.table.selectRow(0)

    def _say(self, note: str) -> None:
        self.note.setText(note)
        self.note.setVisible(bool(note))

    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.files):
            return
        change, dark = self.files[rows[0].row()], is_dark(self.palette())
        self.jobs.read(lambda: diff_html(change.text, dark), lambda html: self._show(change, html),
                       owner=self, name="diff")

    def _show(self, change: FilePatch, html: str) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows and rows[0].row() < len(self.files) and self.files[rows[0].row()] is change:
            self.text.setHtml(html)
