"""The statistics' count grid: every status and the total in a cell of its own."""

from __future__ import annotations

from desktop.ui.stats_panel import STATUS_ORDER, StatsPanel


def test_every_status_and_the_total_have_a_cell_of_their_own(qtbot) -> None:
    panel = StatsPanel()
    qtbot.addWidget(panel)
    grid = panel.count_grid
    cells = [grid.getItemPosition(i)[:2] for i in range(grid.count())]
    assert len(cells) == 3 * len(STATUS_ORDER) + 2  # dot, name and value per status; "total" and its value
    assert len(set(cells)) == len(cells)
