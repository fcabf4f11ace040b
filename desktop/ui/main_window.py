"""MainWindow: agents, statistics and the task tables, kept live from the pool and the database.

One snapshot of the queue (QueueMonitor) draws every count: the tab titles, the status bar, the
agents table, the history's total, the paused banner, and the Running table's rows. Task changes
the window hears of (the pool's signals, the user's actions) are applied to the tables together
with the first snapshot read after them, so a row and the count it belongs to never disagree
for longer than one read.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QLabel,
    QMainWindow,
    QSplitter,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.config import Settings
from desktop.queue import QueueStats, Task, TaskQueueService, TaskStatus
from desktop.ui.agent_model import agent_lines
from desktop.ui.agents_panel import AgentsPanel
from desktop.ui.close_flow import (
    WAIT_FOREVER_S,
    CloseChoice,
    PoolShutdown,
    ask_close_choice,
)
from desktop.ui.details_dialog import TaskDetailsDialog, open_details
from desktop.ui.error_report import guarded, show_error, user_message
from desktop.ui.failed_panel import FailedPanel
from desktop.ui.help_menu import build_help_menu
from desktop.ui.history_panel import HistoryPanel
from desktop.ui.icon import app_icon
from desktop.ui.jobs import Jobs
from desktop.ui.paused_banner import PausedBanner
from desktop.ui.prompt_bar import PromptBar
from desktop.ui.queue_monitor import QueueMonitor, Snapshot
from desktop.ui.repos_panel import ReposPanel
from desktop.ui.running_panel import RunningPanel
from desktop.ui.settings_dialog import SettingsDialog
from desktop.ui.stable_tabs import StableTabBar
from desktop.ui.stats_panel import StatsPanel
from desktop.ui.status_style import plural
from desktop.ui.task_actions import TaskActions, can_cancel, can_retry
from desktop.ui.task_dialog import NewTaskDialog
from desktop.ui.task_model import TaskTableModel
from desktop.ui.task_queries import ChartRange
from desktop.ui.task_view import TaskTableView
from desktop.ui.toolbar import build_toolbar, style_icon
from desktop.ui.tray import AppTray
from desktop.ui.welcome import WelcomePanel
from desktop.ui.window_api import WindowApi
from desktop.ui.window_state import restore_window_state, save_window_state
from desktop.ui.workers_panel import WorkersPanel
from desktop.workers.pool import WorkerPool

log = logging.getLogger(__name__)

CHANGE_TO_SNAPSHOT_MS = 120  # a burst of task changes asks for one snapshot this soon after
QUEUED = Qt.ConnectionType.QueuedConnection


def _group(title: str, widget: QWidget, parent: QWidget) -> QGroupBox:
    box = QGroupBox(title, parent)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(widget)
    return box


class MainWindow(QMainWindow):
    """The Agent Queue window. Call start() once it is built; it closes through the close flow.

    Signals:
        shutdown_finished(): the pool has stopped and the window has closed; the app may quit.
    """

    shutdown_finished = Signal()

    def __init__(
        self,
        service: TaskQueueService,
        pool: WorkerPool,
        settings: Settings,
        *,
        store: QSettings | None = None,
        settings_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.pool = pool
        self.settings = settings
        self.settings_path = settings_path
        self.store = store if store is not None else QSettings()
        self.jobs = Jobs(self)
        self.jobs.default_error = lambda exc: show_error(self, exc)
        self.monitor = QueueMonitor(service, self.jobs, self)
        self.task_actions = TaskActions(service, self.jobs, pool, self)
        self.pool_state = "running" if pool.is_running else "stopped"
        self.ask_close = ask_close_choice  # tests replace it
        self._shutdown: PoolShutdown | None = None
        self._closed = False
        self._last_poll_error = ""
        self._changes: list[tuple[int, list[Task]]] = []  # (sequence number, tasks) not yet applied
        self._sequence = 0
        self.monitor.tag = lambda: self._sequence
        self.details_dialogs: dict[int, TaskDetailsDialog] = {}
        self._previous_stats: QueueStats | None = None

        self.setWindowTitle("Agent Queue")
        self.setWindowIcon(app_icon())
        self.agents = AgentsPanel(service, self.jobs, self)
        self.stats = StatsPanel(self)
        self.history = HistoryPanel(service, self.jobs, self)
        self.running = RunningPanel(service, self.jobs, pool, self.task_actions, self)
        self.failed = FailedPanel(service, self.jobs, self.task_actions, self)
        self.tabs = QTabWidget(self)
        self.tabs.setTabBar(StableTabBar(self.tabs))
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.running, "Running (0)")
        self.tabs.addTab(self.failed, "Failed (0)")
        self.repositories = ReposPanel(service, self.jobs, self.task_actions, self)
        self.tabs.addTab(self.repositories, "Repositories")
        self.http_api = WindowApi(service, pool, self)
        self.workers = WorkersPanel(service, self.jobs, self)
        self.tabs.addTab(self.workers, "Workers")
        self.workers.live_changed.connect(self._workers_live)
        self.left = QSplitter(Qt.Orientation.Vertical, self)
        self.left.setChildrenCollapsible(False)
        self.left.addWidget(_group("Agents", self.agents, self))
        self.left.addWidget(_group("Queue statistics", self.stats, self))
        self.left.setStretchFactor(0, 2)
        self.left.setStretchFactor(1, 3)
        self.left.setSizes([300, 520])
        self.welcome = WelcomePanel(service, self.jobs, self)
        self.welcome.hide()  # until the first snapshot shows an empty queue
        self.paused_banner = PausedBanner(self)
        self.prompt_bar = PromptBar(service, self.jobs, self.store, self)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(4)
        right_layout.addWidget(self.welcome)
        right_layout.addWidget(self.paused_banner)
        right_layout.addWidget(self.prompt_bar)
        right_layout.addWidget(self.tabs, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setSizes([470, 1000])
        self.setCentralWidget(self.splitter)
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self.tray = AppTray(self, self.pause_action, self.show_window, self.quit_app)

        self._soon = QTimer(self)  # a burst of task changes asks for one snapshot
        self._soon.setSingleShot(True)
        self._soon.setInterval(CHANGE_TO_SNAPSHOT_MS)
        self._soon.timeout.connect(self.monitor.poll_snapshot)
        self._connect()
        self.restore_state()
        self._update_actions()

    # -- building -------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        actions = build_toolbar(self, (self.history, self.running, self.failed))
        self.pause_action = actions.pause
        self.new_action = actions.new_task
        self.retry_action = actions.retry
        self.cancel_action = actions.cancel
        self.settings_action = actions.settings
        self.open_action = QAction("&Open details", self)
        self.open_action.setStatusTip("Open the selected task's details (Enter, or double-click a row)")
        self.copy_id_action = QAction("Copy task &id", self)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.find_action = QAction("&Search the history", self)
        self.find_action.setShortcut(QKeySequence("Ctrl+F"))
        self.prompt_action = QAction("Go to the &prompt bar", self)
        self.prompt_action.setShortcut(QKeySequence("Ctrl+L"))
        for action in (self.quit_action, self.find_action, self.prompt_action):
            self.addAction(action)

    def _build_menus(self) -> None:
        """Queue, Tasks and Help; None is a separator."""
        bar = self.menuBar()
        for title, actions in (
            ("&Queue", (self.new_action, self.prompt_action, None, self.pause_action, None, self.settings_action,
                        None, self.quit_action)),
            ("&Tasks", (self.open_action, self.retry_action, self.cancel_action, None, self.copy_id_action, None,
                        self.find_action)),
        ):
            menu = bar.addMenu(title)
            for action in actions:
                if action is None:
                    menu.addSeparator()
                else:
                    menu.addAction(action)
        build_help_menu(self, self.service.url)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.state_label = QLabel(self)
        self.state_label.setObjectName("workerState")
        self.counts_label = QLabel(self)
        self.db_label = QLabel(self)
        self.db_label.setText(f"Database: {_location(self.service.url)}")
        self.db_label.setToolTip(self.service.url)
        for i, label in enumerate((self.state_label, self.counts_label, self.db_label)):
            if i:
                line = QFrame(self)
                line.setFrameShape(QFrame.Shape.VLine)
                line.setFrameShadow(QFrame.Shadow.Sunken)
                bar.addPermanentWidget(line)
            label.setContentsMargins(4, 0, 4, 0)
            bar.addPermanentWidget(label)
        self._show_state()

    def _connect(self) -> None:
        self.http_api.changed.connect(lambda text: self.statusBar().showMessage(text, 15_000))
        self.pause_action.toggled.connect(self._pause_toggled)
        self.new_action.triggered.connect(self.new_task)
        self.retry_action.triggered.connect(self.retry_selected)
        self.cancel_action.triggered.connect(self.cancel_selected)
        self.settings_action.triggered.connect(self.open_settings)
        self.open_action.triggered.connect(self.open_selected)
        self.copy_id_action.triggered.connect(lambda: self.task_actions.copy_ids(self.selected_tasks()))
        self.quit_action.triggered.connect(self.quit_app)
        self.find_action.triggered.connect(self._find)
        self.prompt_action.triggered.connect(lambda: self.prompt_bar.prompt.setFocus())
        self.monitor.paused_changed.connect(self._paused_changed)
        self.monitor.snapshot_ready.connect(self._snapshot)
        self.monitor.poll_failed.connect(self._poll_failed)
        self.monitor.write_failed.connect(lambda exc: show_error(self, exc, "Pause"))
        self.stats.range_changed.connect(self._range_changed)
        self.agents.changed.connect(self.monitor.poll_snapshot)
        self.agents.agent_selected.connect(self.prompt_bar.set_agent)
        self.paused_banner.resume_clicked.connect(lambda: self.pause_action.setChecked(False))
        self.prompt_bar.created.connect(self._task_created)
        self.welcome.examples_added.connect(self._examples_added)
        self.welcome.dismissed.connect(lambda: self.store.setValue("welcome/dismissed", True))
        self.task_actions.changed.connect(self.queue_changes)
        self.task_actions.deleted.connect(self._deleted)
        self.task_actions.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.tabs.currentChanged.connect(lambda _i: self.refresh_live())
        self.repositories.open_task.connect(self.open_task_id)
        for model in self.models:
            model.load_failed.connect(self._poll_failed)
            model.dataChanged.connect(self._update_actions)
            model.rowsRemoved.connect(self._update_actions)
            model.modelReset.connect(self._update_actions)
        for view in self.views:
            view.selectionModel().selectionChanged.connect(self._update_actions)
            view.open_requested.connect(self.open_details)
            view.menu_requested.connect(lambda pos, v=view: self._task_menu(v, pos))
        self.tabs.currentChanged.connect(self._update_actions)
        self.pool.task_started.connect(self._task_started, QUEUED)
        self.pool.task_progress.connect(self._task_progress, QUEUED)
        self.pool.task_finished.connect(self._task_finished, QUEUED)
        self.pool.state_changed.connect(self._pool_state, QUEUED)

    @property
    def models(self) -> list[TaskTableModel]:
        return [self.history.model, self.running.model, self.failed.model]

    @property
    def views(self) -> list[TaskTableView]:
        return [self.history.view, self.running.view, self.failed.view]

    def start(self) -> None:
        """Load the tables and start following the queue (the Running rows come with the first snapshot)."""
        self.history.apply_filter()
        self.failed.model.refresh()
        self.monitor.start()

    # -- live updates ---------------------------------------------------------------------------

    def queue_changes(self, tasks: list[Task]) -> None:
        """Tasks changed: apply them with the next snapshot (asked for now), so rows and counts agree."""
        self._sequence += 1
        self._changes.append((self._sequence, list(tasks)))
        if not self._soon.isActive():
            self._soon.start()

    def apply_tasks(self, tasks: list[Task]) -> None:
        """Show these versions of tasks in the paged tables and open details (Running follows the snapshot)."""
        for model in (self.history.model, self.failed.model):
            model.apply_tasks(tasks)
        for task in tasks:
            dialog = self.details_dialogs.get(task.id)
            if dialog is not None:
                dialog.apply_task(task)

    def _task_started(self, task: Task) -> None:
        self.queue_changes([task])

    def _task_progress(self, task_id: int, percent: int, message: str) -> None:
        self.running.model.update_progress(task_id, percent, message)

    def _task_finished(self, task: Task) -> None:
        self.queue_changes([task])
        if task.status is TaskStatus.FAILED and not self.tray.notify_failed(task):
            self.statusBar().showMessage(f"Task {task.id} ({task.agent}) failed: {task.last_error or ''}", 10_000)

    def _deleted(self, ids: list[int]) -> None:
        for model in self.models:
            model.remove_ids(ids)
        self.monitor.poll_snapshot()

    def refresh_live(self) -> None:
        """Re-read what is on screen: the current table's head and visible rows."""
        if not self.isVisible():
            return
        panel = self.tabs.currentWidget()
        if hasattr(panel, "refresh_live"):
            panel.refresh_live()

    def _examples_added(self, tasks: list[Task]) -> None:
        self.queue_changes(tasks)
        self.statusBar().showMessage(f"Added the example agents and {plural(len(tasks), 'demo task')}.", 8000)

    def _range_changed(self, chart_range: ChartRange) -> None:
        self.monitor.set_chart_range(chart_range)

    def _snapshot(self, snapshot: Snapshot) -> None:
        stats, previous = snapshot.stats, self._previous_stats
        self._previous_stats = stats
        ready = [tasks for sequence, tasks in self._changes if sequence <= snapshot.tag]
        self._changes = [(sequence, tasks) for sequence, tasks in self._changes if sequence > snapshot.tag]
        for tasks in ready:
            self.apply_tasks(tasks)
        self.running.set_running(snapshot.running)
        empty = not snapshot.agents and stats.total == 0
        dismissed = self.store.value("welcome/dismissed", False, type=bool)
        self.welcome.setVisible(empty and not dismissed)
        self.stats.update_stats(stats, snapshot.series, snapshot.chart_range, snapshot.costs)
        self.agents.set_lines(agent_lines(snapshot.agents, stats.by_agent, stats.paused))
        names = [a.name for a in snapshot.agents]
        self.history.set_agents(names)
        self.prompt_bar.set_agents(names)
        self.history.set_stats(stats)
        self.paused_banner.show_paused(stats.paused, snapshot.waiting)
        running, pending = stats.by_status.get("running", 0), stats.by_status.get("pending", 0)
        failed = stats.by_status.get("failed", 0) + stats.by_status.get("retrying", 0)
        for index, text in ((1, f"Running ({running:,})"), (2, f"Failed ({failed:,})")):
            if self.tabs.tabText(index) != text:
                self.tabs.setTabText(index, text)
        counts = f"{running:,} running · {pending:,} pending"
        if self.counts_label.text() != counts:
            self.counts_label.setText(counts)
        if self._last_poll_error:
            self._last_poll_error = ""
            self.statusBar().clearMessage()
        self._show_state()
        self._follow_counts(previous, stats)
        self.refresh_live()
        for dialog in list(self.details_dialogs.values()):
            dialog.refresh()

    def _follow_counts(self, previous: QueueStats | None, stats: QueueStats) -> None:
        """Counts changed for tables not on screen: read their first page again, so the rows
        follow the counts (tasks another process queued or failed)."""
        if previous is None:
            return
        current = self.tabs.currentWidget()
        failed = ("failed", "retrying")
        if current is not self.failed and any(previous.by_status.get(s) != stats.by_status.get(s) for s in failed):
            self.failed.model.sync_head()
        if current is not self.history and previous.total != stats.total:
            self.history.model.sync_head()

    def _workers_live(self, live: int) -> None:
        text = f"Workers ({live:,} live)"
        index = self.tabs.indexOf(self.workers)
        if self.tabs.tabText(index) != text:
            self.tabs.setTabText(index, text)

    def _poll_failed(self, exc: BaseException) -> None:
        text = user_message(exc)
        if text != self._last_poll_error:
            self._last_poll_error = text
            self.statusBar().showMessage(f"Cannot read the queue: {text}")

    # -- pause ----------------------------------------------------------------------------------

    def _pause_toggled(self, checked: bool) -> None:
        self.monitor.set_paused(checked)
        self._show_state()

    def _paused_changed(self, paused: bool) -> None:
        blocked = self.pause_action.blockSignals(True)
        self.pause_action.setChecked(paused)
        self.pause_action.blockSignals(blocked)
        self._show_state()

    def _pool_state(self, state: str) -> None:
        self.pool_state = state
        self._show_state()

    def worker_state(self) -> str:
        """running, paused, stopping or stopped: what the status bar and the tray show."""
        if self.pool_state == "running" and self.pause_action.isChecked():
            return "paused"
        return self.pool_state

    def _show_state(self) -> None:
        state = self.worker_state()
        paused = self.pause_action.isChecked()
        if self.pause_action.text() != ("Resume" if paused else "Pause"):
            self.pause_action.setText("Resume" if paused else "Pause")
            self.pause_action.setIcon(style_icon(
                self, QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause,
                "media-playback-start" if paused else "media-playback-pause",
            ))
        if self.state_label.text() != f"Workers: {state}":
            self.state_label.setText(f"Workers: {state}")
        stats = self.monitor.snapshot.stats if self.monitor.snapshot else None
        if stats is not None:
            self.tray.update_state(state, stats.by_status.get("running", 0), stats.by_status.get("pending", 0))

    # -- toolbar actions ------------------------------------------------------------------------

    def _update_actions(self, *_: object) -> None:
        """Retry and Cancel are enabled when the current tab's selection has tasks they apply to."""
        tasks = self.selected_tasks()
        self.retry_action.setEnabled(can_retry(tasks))
        self.cancel_action.setEnabled(can_cancel(tasks))
        self.open_action.setEnabled(len(tasks) == 1)
        self.copy_id_action.setEnabled(bool(tasks))

    def selected_tasks(self) -> list[Task]:
        panel = self.tabs.currentWidget()
        view = getattr(panel, "view", None)
        return view.selected_tasks() if view is not None else []

    @guarded("Open task")
    def open_details(self, task: Task) -> TaskDetailsDialog:
        """The details of `task` in a dialog of its own (the one already open for it, if any)."""
        return open_details(self.details_dialogs, self.service, self.jobs, self.task_actions, task, self,
                            settings=lambda: self.settings)

    def open_task_id(self, task_id: int) -> None:
        """Open the details of task `task_id` once it is read."""
        service = self.service
        self.jobs.read(lambda: service.get(task_id), self.open_details, owner=self, name="open-task")

    def open_selected(self, *_: object) -> TaskDetailsDialog | None:
        tasks = self.selected_tasks()
        return self.open_details(tasks[0]) if len(tasks) == 1 else None

    def _task_menu(self, view: TaskTableView, global_pos: QPoint) -> None:
        self.task_actions.menu(view.selected_tasks(), self.open_details, self).popup(global_pos)

    def _find(self) -> None:
        self.tabs.setCurrentWidget(self.history)
        self.history.search.setFocus()
        self.history.search.selectAll()

    @guarded("New task")
    def new_task(self, *_: object) -> NewTaskDialog:
        selected = self.agents.selected_agent()
        dialog = NewTaskDialog(self.service, self.jobs, self.agents.agent_names(), self,
                               agent=selected.name if selected else None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.created.connect(self._task_created)
        dialog.open()
        return dialog

    def _task_created(self, task: Task) -> None:
        self.queue_changes([task])
        self.statusBar().showMessage(f"Added task {task.id} for {task.agent}.", 6000)

    @guarded("Retry")
    def retry_selected(self, *_: object) -> None:
        self.task_actions.retry(self.selected_tasks())

    @guarded("Cancel")
    def cancel_selected(self, *_: object) -> None:
        self.task_actions.cancel(self.selected_tasks())

    @guarded("Settings")
    def open_settings(self, *_: object) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self.jobs, self.service.url, self, path=self.settings_path)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.saved.connect(self.apply_settings)
        dialog.open()
        return dialog

    def apply_settings(self, settings: Settings) -> None:
        """Use saved settings now where that is possible: concurrency, timeout, polling, retries."""
        old, self.settings = self.settings, settings
        self.pool.apply_settings(
            dataclasses.replace(
                self.pool.settings, concurrency=settings.concurrency, timeout_s=settings.timeout_s,
                poll_interval_s=settings.poll_interval_s, shutdown_grace_s=settings.shutdown_grace_s,
            )
        )
        self.service.set_retry_policy(settings.retry_policy())
        if (settings.api_enabled, settings.api_port) != (old.api_enabled, old.api_port):
            self.http_api.apply(settings)  # says where it listens when it has started
        note = " The new database opens the next time Agent Queue starts." if settings.database_url != old.database_url else ""
        self.statusBar().showMessage("Settings saved." + note, 8000)

    # -- window and tray ------------------------------------------------------------------------

    def show_window(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.refresh_live)

    def quit_app(self) -> None:
        """Quit from the tray menu: the same question as closing, without 'keep running'."""
        self._begin_close(allow_tray=False)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closed:
            event.accept()
            return
        event.ignore()
        self._begin_close(allow_tray=self.tray.available)

    def _begin_close(self, *, allow_tray: bool) -> None:
        if self._shutdown is not None:
            return
        running = len(self.pool.running_tasks()) if self.pool.is_running else 0
        grace = 0.0
        if running:
            choice = self.ask_close(self, running, allow_tray)
            if choice is CloseChoice.CANCEL:
                return
            if choice is CloseChoice.TRAY:
                self.hide()
                self.tray.notify("Agent Queue keeps running", "Tasks go on in the background.")
                return
            grace = WAIT_FOREVER_S if choice is CloseChoice.WAIT else 0.0
        self.save_state()
        self.monitor.stop()
        self._soon.stop()
        if not self.pool.is_running:
            self._finish_close()
            return
        self._shutdown = PoolShutdown(self.pool, grace, self)  # off the GUI thread, even when idle
        self._shutdown.finished.connect(self._finish_close)
        self._shutdown.start()

    def _finish_close(self) -> None:
        self.jobs.close()
        self.tray.hide()
        self._closed = True
        self.close()
        self.shutdown_finished.emit()

    # -- remembered layout ----------------------------------------------------------------------

    def save_state(self) -> None:
        save_window_state(self)

    def restore_state(self) -> None:
        restore_window_state(self)


def _location(url: str) -> str:
    """A short database location: the file path for SQLite, else the URL."""
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
