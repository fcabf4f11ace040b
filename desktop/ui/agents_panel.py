"""AgentsPanel: the agents table with add, edit, remove, pause and resume."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QMenu,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.queue import Agent, TaskQueueService
from desktop.ui.agent_dialog import AgentDialog
from desktop.ui.agent_model import AgentLine, AgentTableModel
from desktop.ui.error_report import show_error
from desktop.ui.jobs import Jobs


class AgentsPanel(QWidget):
    """Signals:
        changed(): an agent was added, changed, removed, paused or resumed.
        agent_selected(str): the user selected this agent (new tasks preselect it).
    """

    changed = Signal()
    agent_selected = Signal(str)

    def __init__(self, service: TaskQueueService, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.jobs = jobs
        self.model = AgentTableModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("agentsTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # the counts: as wide as they need
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the name: the rest
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        self.table.doubleClicked.connect(lambda _index: self.edit_agent())

        self.add_action = self._action("&Add agent…", "Define a new agent", self.add_agent, "Ctrl+Shift+A")
        self.edit_action = self._action("&Edit…", "Change the selected agent", self.edit_agent)
        self.remove_action = self._action("&Remove", "Remove the selected agent", self.remove_agent)
        self.pause_action = self._action("&Pause", "Start no new tasks of this agent", lambda: self.set_paused(True))
        self.resume_action = self._action("Res&ume", "Start this agent's tasks again", lambda: self.set_paused(False))

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for action, label in ((self.add_action, "Add…"), (self.edit_action, "Edit…"), (self.remove_action, "Remove")):
            button = QPushButton(label, self)
            button.setObjectName(f"agent{label.rstrip('…')}Button")
            button.setToolTip(action.toolTip())
            button.clicked.connect(action.trigger)
            action.changed.connect(lambda b=button, a=action: b.setEnabled(a.isEnabled()))
            buttons.addWidget(button)
        self.pause_button = QPushButton("Pause", self)  # Pause or Resume, as the selected agent is
        self.pause_button.setObjectName("agentPauseButton")
        self.pause_button.clicked.connect(
            lambda: (self.resume_action if self.resume_action.isEnabled() else self.pause_action).trigger()
        )
        buttons.addWidget(self.pause_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.model.modelReset.connect(self._update_actions)
        self.model.dataChanged.connect(lambda *_: self._update_actions())
        self._update_actions()

    def _action(self, text: str, tip: str, slot: Callable[[], Any], shortcut: str | None = None) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip + (f" ({shortcut})" if shortcut else ""))
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)
        action.triggered.connect(slot)
        return action

    def set_lines(self, lines: list[AgentLine]) -> None:
        selected = self.selected_agent()
        self.model.set_lines(lines)
        if selected is not None and self.selected_agent() is None:
            for row, line in enumerate(self.model.lines):
                if line.agent.name == selected.name:
                    self.table.selectRow(row)
        self._update_actions()

    def selected_agent(self) -> Agent | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.agent_at(rows[0].row()) if rows else None

    def agent_names(self) -> list[str]:
        return [line.agent.name for line in self.model.lines]

    def _selection_changed(self) -> None:
        self._update_actions()
        agent = self.selected_agent()
        if agent is not None:
            self.agent_selected.emit(agent.name)

    def _update_actions(self) -> None:
        agent = self.selected_agent()
        for action in (self.edit_action, self.remove_action):
            action.setEnabled(agent is not None)
        self.pause_action.setEnabled(agent is not None and not agent.paused)
        self.resume_action.setEnabled(agent is not None and agent.paused)
        resume = self.resume_action.isEnabled()
        self.pause_button.setText("Resume" if resume else "Pause")
        self.pause_button.setToolTip((self.resume_action if resume else self.pause_action).toolTip())
        self.pause_button.setEnabled(agent is not None)

    def _menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        for action in (self.add_action, self.edit_action, self.remove_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.pause_action)
        menu.addAction(self.resume_action)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    # -- actions --------------------------------------------------------------------------------

    def add_agent(self) -> AgentDialog:
        dialog = AgentDialog(self.service, self.jobs, self)
        dialog.saved.connect(lambda _agent: self.changed.emit())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def edit_agent(self) -> AgentDialog | None:
        agent = self.selected_agent()
        if agent is None:
            return None
        dialog = AgentDialog(self.service, self.jobs, self, agent=agent)
        dialog.saved.connect(lambda _agent: self.changed.emit())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def set_paused(self, paused: bool) -> None:
        agent = self.selected_agent()
        if agent is None:
            return
        service, name = self.service, agent.name
        self.jobs.write(
            lambda: (service.pause if paused else service.resume)(name),
            lambda _: self.changed.emit(),
            lambda exc: show_error(self, exc, "Pause agent" if paused else "Resume agent"),
            owner=self,
        )

    def confirm_remove(self, agent: Agent) -> tuple[bool, bool]:
        """Ask before removing; returns (go ahead, also cancel its unfinished tasks)."""
        box = QMessageBox(
            QMessageBox.Icon.Question, "Remove agent",
            f"Remove the agent “{agent.name}”? Its finished tasks stay in the history.",
            QMessageBox.StandardButton.Cancel, self,
        )
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        also = QCheckBox("Also cancel its unfinished tasks", box)
        box.setCheckBox(also)
        box.exec()
        return box.clickedButton() is remove, also.isChecked()

    def remove_agent(self) -> None:
        agent = self.selected_agent()
        if agent is None:
            return
        go, cancel_tasks = self.confirm_remove(agent)
        if not go:
            return
        service, name = self.service, agent.name
        self.jobs.write(
            lambda: service.remove_agent(name, cancel_tasks=cancel_tasks),
            lambda _: self.changed.emit(),
            lambda exc: show_error(self, exc, "Remove agent"),
            owner=self,
        )
