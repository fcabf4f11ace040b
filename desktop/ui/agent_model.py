"""AgentTableModel: each agent with its state and task counts, updated in place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from desktop.queue import Agent
from desktop.ui.status_style import status_colour

AGENT_ROLE = Qt.ItemDataRole.UserRole + 1
HEADERS = ("Name", "Kind", "State", "Running", "Pending", "Failed")
TOOLTIPS = (
    "", "", "running: tasks running now; paused: no new tasks start (this agent, or the whole queue)",
    "running now / concurrency", "pending and retrying tasks", "tasks that failed for good",
)
WAITING = ("pending", "blocked", "retrying", "backlogged")  # what an agent's max_pending counts
AnyIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class AgentLine:
    """One row: the agent and its counts from the queue statistics (`waiting`: as its
    max_pending counts them)."""

    agent: Agent
    running: int
    pending: int
    failed: int
    queue_paused: bool = False
    waiting: int = 0

    @property
    def state(self) -> str:
        if self.agent.paused or self.queue_paused:
            return "paused"
        return "running" if self.running else "idle"

    @property
    def state_tip(self) -> str:
        if self.agent.paused:
            return "This agent is paused: its running tasks finish, no new ones start"
        if self.queue_paused:
            return "The whole queue is paused: running tasks finish, no new ones start"
        return "Running tasks now" if self.running else "Waiting for tasks"

    @property
    def name_tip(self) -> str:
        """The whole name (the column may be too narrow for it) and how retries go."""
        escalates = "\nEach automatic retry one priority level higher (up to 5)"
        return self.agent.name + (escalates if self.agent.escalate_priority else "")

    @property
    def pending_tip(self) -> str:
        limit = self.agent.max_pending
        if limit is None:
            return f"{self.pending:,} pending or retrying; no limit of waiting tasks"
        return (f"{self.waiting:,} of at most {limit:,} waiting tasks (pending, blocked, retrying or "
                "backlogged): enqueueing past the limit is refused")

    def cells(self) -> tuple[str, ...]:
        return (
            self.agent.name, self.agent.kind, self.state, f"{self.running} / {self.agent.concurrency}",
            f"{self.pending:,}", f"{self.failed:,}",
        )


def agent_lines(
    agents: Sequence[Agent], by_agent: Mapping[str, Mapping[str, int]], queue_paused: bool = False
) -> list[AgentLine]:
    lines = []
    for agent in agents:
        counts = by_agent.get(agent.name, {})
        lines.append(
            AgentLine(
                agent,
                counts.get("running", 0),
                counts.get("pending", 0) + counts.get("retrying", 0),
                counts.get("failed", 0),
                queue_paused,
                sum(counts.get(status, 0) for status in WAITING),
            )
        )
    return lines


class AgentTableModel(QAbstractTableModel):
    """Agents in name order. set_lines() updates changed rows, resetting only when agents come or go."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lines: list[AgentLine] = []

    def set_lines(self, lines: list[AgentLine]) -> None:
        if [line.agent.name for line in lines] != [line.agent.name for line in self.lines]:
            self.beginResetModel()
            self.lines = lines
            self.endResetModel()
            return
        for row, (old, new) in enumerate(zip(self.lines, lines, strict=False)):
            if old != new:
                self.lines[row] = new
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))

    def agent_at(self, row: int) -> Agent | None:
        return self.lines[row].agent if 0 <= row < len(self.lines) else None

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.lines)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.lines):
            return None
        line = self.lines[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return line.cells()[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if index.column() >= 3 else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if index.column() == 2:
                return status_colour(line.state)
            if index.column() == 5 and line.failed:
                return status_colour("failed")
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            return line.name_tip
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 1:
            return "config: " + str(line.agent.config)
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 2:
            return line.state_tip
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 4:
            return line.pending_tip
        if role == AGENT_ROLE:
            return line.agent
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return TOOLTIPS[section] or None
        return None
