"""MainWindow: agents, statistics and the task tables, kept live from the pool and the database."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QShowEvent
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
from desktop.queue import Task, TaskQueueService, TaskStatus
from desktop.ui.agent_model import agent_lines
from desktop.ui.agents_panel import AgentsPanel
from desktop.ui.close_flow import (
    WAIT_FOREVER_S,
    CloseChoice,
    PoolShutdown,
    ask_close_choice,
)
from desktop.ui.error_report import guarded, show_error, user_message
from desktop.ui.failed_panel import FailedPanel
from desktop.ui.history_panel import HistoryPanel
from desktop.ui.icon import app_icon
from desktop.ui.jobs import Jobs
from desktop.ui.queue_monitor import QueueMonitor, Snapshot
from desktop.ui.running_panel import RunningPanel
from desktop.ui.settings_dialog import SettingsDialog
from desktop.ui.stats_panel import StatsPanel
from desktop.ui.task_actions import RETRYABLE, TaskActions
from desktop.ui.task_dialog import NewTaskDialog
from desktop.ui.task_model import TaskTableModel
from desktop.ui.toolbar import build_toolbar
from desktop.ui.tray import AppTray
from desktop.ui.welcome import WelcomePanel
from desktop.ui.window_state import restore_window_state, save_window_state
from desktop.workers.pool import WorkerPool

log = logging.getLogger(__name__)

LIVE_REFRESH_MS = 2000
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

        self.setWindowTitle("Agent Queue")
        self.setWindowIcon(app_icon())
        self.agents = AgentsPanel(service, self.jobs, self)
        self.stats = StatsPanel(self)
        self.history = HistoryPanel(service, self.jobs, self)
        self.running = RunningPanel(service, self.jobs, pool, self.task_actions, self)
        self.failed = FailedPanel(service, self.jobs, self.task_actions, self)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.running, "Running")
        self.tabs.addTab(self.failed, "Failed")
        self.left = QSplitter(Qt.Orientation.Vertical, self)
        self.left.addWidget(_group("Agents", self.agents, self))
        self.left.addWidget(_group("Queue statistics", self.stats, self))
        self.left.setStretchFactor(0, 2)
        self.left.setStretchFactor(1, 3)
        self.left.setSizes([300, 520])
        self.welcome = WelcomePanel(service, self.jobs, self)
        self.welcome.hide()  # until the first snapshot shows an empty queue
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.welcome)
        right_layout.addWidget(self.tabs, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setSizes([470, 1000])
        self.setCentralWidget(self.splitter)
        self._build_actions()
        self._build_status_bar()
        self.tray = AppTray(self, self.pause_action, self.show_window, self.quit_app)

        self._soon = QTimer(self)  # a burst of task events asks for one statistics poll
        self._soon.setSingleShot(True)
        self._soon.setInterval(300)
        self._soon.timeout.connect(self.monitor.poll_snapshot)
        self._live = QTimer(self)
        self._live.setInterval(LIVE_REFRESH_MS)
        self._live.timeout.connect(self.refresh_live)
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
        self.pause_action.toggled.connect(self._pause_toggled)
        self.new_action.triggered.connect(self.new_task)
        self.retry_action.triggered.connect(self.retry_selected)
        self.cancel_action.triggered.connect(self.cancel_selected)
        self.settings_action.triggered.connect(self.open_settings)
        self.monitor.paused_changed.connect(self._paused_changed)
        self.monitor.snapshot_ready.connect(self._snapshot)
        self.monitor.poll_failed.connect(self._poll_failed)
        self.monitor.write_failed.connect(lambda exc: show_error(self, exc, "Pause"))
        self.agents.changed.connect(self.monitor.poll_snapshot)
        self.welcome.examples_added.connect(self._examples_added)
        self.welcome.dismissed.connect(lambda: self.store.setValue("welcome/dismissed", True))
        self.task_actions.changed.connect(self.apply_tasks)
        self.task_actions.deleted.connect(self._deleted)
        self.task_actions.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.tabs.currentChanged.connect(lambda _i: self.refresh_live())
        for model in self.models:
            model.load_failed.connect(self._poll_failed)
            model.dataChanged.connect(self._update_actions)
            model.rowsRemoved.connect(self._update_actions)
            model.modelReset.connect(self._update_actions)
        for panel in (self.history, self.running, self.failed):
            panel.view.selectionModel().selectionChanged.connect(self._update_actions)
        self.tabs.currentChanged.connect(self._update_actions)
        self.pool.task_started.connect(self._task_started, QUEUED)
        self.pool.task_progress.connect(self._task_progress, QUEUED)
        self.pool.task_finished.connect(self._task_finished, QUEUED)
        self.pool.state_changed.connect(self._pool_state, QUEUED)

    @property
    def models(self) -> list[TaskTableModel]:
        return [self.history.model, self.running.model, self.failed.model]

    def start(self) -> None:
        """Load the tables and start following the queue."""
        self.history.apply_filter()
        self.running.model.refresh()
        self.failed.model.refresh()
        self.monitor.start()
        self._live.start()

    # -- live updates ---------------------------------------------------------------------------

    def apply_tasks(self, tasks: list[Task]) -> None:
        for model in self.models:
            model.apply_tasks(tasks)

    def _task_started(self, task: Task) -> None:
        self.apply_tasks([task])
        if not self._soon.isActive():
            self._soon.start()

    def _task_progress(self, task_id: int, percent: int, message: str) -> None:
        self.running.model.update_progress(task_id, percent, message)

    def _task_finished(self, task: Task) -> None:
        self.apply_tasks([task])
        if not self._soon.isActive():
            self._soon.start()
        if task.status is TaskStatus.FAILED and not self.tray.notify_failed(task):
            self.statusBar().showMessage(f"Task {task.id} ({task.agent}) failed: {task.last_error or ''}", 10_000)

    def _deleted(self, ids: list[int]) -> None:
        for model in self.models:
            model.remove_ids(ids)

    def refresh_live(self) -> None:
        """Re-read what is on screen: the current table's head and visible rows."""
        if not self.isVisible():
            return
        panel = self.tabs.currentWidget()
        if hasattr(panel, "refresh_live"):
            panel.refresh_live()
        if panel is not self.running:
            self.running.model.sync_head()  # small: keeps the Running tab and cancel targets exact

    def _examples_added(self, tasks: list[Task]) -> None:
        self.apply_tasks(tasks)
        self.monitor.poll_snapshot()
        self.statusBar().showMessage(f"Added the example agents and {len(tasks)} demo tasks.", 8000)

    def _snapshot(self, snapshot: Snapshot) -> None:
        stats = snapshot.stats
        empty = not snapshot.agents and stats.total == 0
        dismissed = self.store.value("welcome/dismissed", False, type=bool)
        self.welcome.setVisible(empty and not dismissed)
        self.stats.update_stats(stats, snapshot.series)
        self.agents.set_lines(agent_lines(snapshot.agents, stats.by_agent))
        self.history.set_agents([a.name for a in snapshot.agents])
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
            self.pause_action.setIcon(self.style().standardIcon(
                QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause
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
        self.retry_action.setEnabled(any(t.status in RETRYABLE for t in tasks))
        self.cancel_action.setEnabled(any(not t.status.is_finished for t in tasks))

    def selected_tasks(self) -> list[Task]:
        panel = self.tabs.currentWidget()
        view = getattr(panel, "view", None)
        return view.selected_tasks() if view is not None else []

    @guarded("New task")
    def new_task(self, *_: object) -> NewTaskDialog:
        dialog = NewTaskDialog(self.service, self.jobs, self.agents.agent_names(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.created.connect(self._task_created)
        dialog.open()
        return dialog

    def _task_created(self, task: Task) -> None:
        self.apply_tasks([task])
        self.statusBar().showMessage(f"Added task {task.id} for {task.agent}.", 6000)
        self.monitor.poll_snapshot()

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
        self._live.stop()
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
