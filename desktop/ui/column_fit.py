"""ColumnFit: a table's columns share its width, so it does not scroll sideways in a 1024 px window.

Each short column is as wide as its text (at most SHORT_MAX); the long ones (names, paths,
branches, worker ids) share the rest, elided in the middle (the cells' tooltips hold the whole
text), and the right-most long column takes what is left over in a wide window.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QHeaderView, QStyledItemDelegate, QStyleOptionViewItem, QTableView

SHORT_MAX = 160  # a short column (a name, a status) never gets wider than this
LONG_MIN = 80  # nor a long one narrower, however narrow the table (it scrolls then)


def column_widths(room: int, needs: Mapping[int, int], long: Collection[int]) -> dict[int, int]:
    """The width of each column in `needs` (column: the width its text needs) in `room` pixels.

    The long columns share fairly: one that needs less than an equal share gets what it needs,
    the others split the rest equally; the right-most takes what is left over.
    """
    widths = {column: min(need, SHORT_MAX) for column, need in needs.items() if column not in long}
    stretching = [column for column in needs if column in long]
    left = room - sum(widths.values())
    for done, column in enumerate(sorted(stretching, key=lambda c: needs[c])):
        widths[column] = max(LONG_MIN, min(needs[column], left // (len(stretching) - done)))
        left -= widths[column]
    if stretching and left > 0:
        widths[max(stretching)] += left
    return widths


class _ElideRight(QStyledItemDelegate):
    """Cells that keep their start (a branch name), where the table elides in the middle."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight  # type: ignore[attr-defined]


class ColumnFit(QObject):
    """Keeps `table`'s columns fitted to its width: on every resize, and when fit() is called
    after its rows changed. The columns are not dragged by hand (they would not stay). Cells are
    elided in the middle, those of the columns in `elide_right` at their end."""

    def __init__(self, table: QTableView, long: Collection[int], *, elide_right: Collection[int] = ()) -> None:
        super().__init__(table)
        self.table = table
        self.long = frozenset(long)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        for column in elide_right:
            table.setItemDelegateForColumn(column, _ElideRight(table))
        header = table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        table.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.fit()
        return False

    def fit(self) -> None:
        header = self.table.horizontalHeader()
        needs = {
            column: max(self.table.sizeHintForColumn(column), header.sectionSizeHint(column))
            for column in range(header.count()) if not header.isSectionHidden(column)
        }
        for column, width in column_widths(self.table.viewport().width(), needs, self.long).items():
            if header.sectionSize(column) != width:
                header.resizeSection(column, width)
