"""run_app: start the desktop window on a qasync event loop.

Set AGENTQ_SCREENSHOT=path.png to grab the window to that file once it has loaded, then quit
(for screenshots and smoke tests). AGENTQ_SCREENSHOT_SIZE=1024x700 sizes the window first;
AGENTQ_SCREENSHOT_VIEW=failed shows the Failed tab with its first task selected, =running the
Running tab following its first task, =details grabs the details dialog of the newest task with a
prompt that has started (else of the first failed one) instead of the window, =waiting those of
a task that waits (with the reason); =transcript and =diff grab those tabs of the newest coding
task's details (the dialog sized to the shot), =repos the Repositories tab, =costs shows the cost
table in the chart's place. AGENTQ_COLOR_SCHEME=dark or light
chooses the palette (see theme.py). In that mode nothing waits for a person: errors go to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import qasync
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QApplication, QMessageBox, QSplashScreen, QToolButton, QWidget

from desktop import paths
from desktop.bootstrap import database_url, open_queue
from desktop.config import Settings, load_settings, settings_path
from desktop.errors import AgentQueueError, DatabaseFileError
from desktop.queue import TaskQueueService, TaskStatus
from desktop.queue.db import display_url
from desktop.ui.close_flow import CloseChoice
from desktop.ui.error_report import show_error
from desktop.ui.icon import app_icon
from desktop.ui.main_window import MainWindow
from desktop.ui.task_details import task_prompt
from desktop.ui.theme import ColorScheme
from desktop.workers.pool import WorkerPool

log = logging.getLogger(__name__)

APP_NAME = "Agent Queue"
ORGANIZATION = "agent-queue"
SCREENSHOT_DELAY_S = 1.5
SPLASH_AFTER_S = 0.3  # a quick open shows no splash at all
T = TypeVar("T")


def create_application() -> QApplication:
    """The QApplication, named so QSettings finds the app's own store."""
    QApplication.setApplicationName(APP_NAME)
    QApplication.setOrganizationName(ORGANIZATION)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationDisplayName(APP_NAME)
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)  # the window may live on in the tray; it quits the app itself
    if not hasattr(app, "agentq_scheme"):
        app.agentq_scheme = ColorScheme(app)  # type: ignore[attr-defined]  # follows the system's light or dark
    return app


def _problem(title: str, text: str, detail: str, *, interactive: bool) -> None:
    """Tell the user what went wrong and what to do: a message box, or stderr when unattended."""
    if not interactive:
        print(f"agentq: error: {text}\n{detail}", file=sys.stderr)
        return
    box = QMessageBox(QMessageBox.Icon.Critical, title, text)
    box.setInformativeText(detail)
    box.exec()


def load_app_settings(*, interactive: bool = True) -> Settings | None:
    try:
        return load_settings()
    except AgentQueueError as exc:
        log.error("cannot load the settings: %s", exc)
        _problem(
            "Agent Queue: settings", f"The settings file {settings_path()} cannot be used.",
            f"{exc}\n\nWhat to do: correct the file, or delete it to go back to the defaults.",
            interactive=interactive,
        )
        return None


def open_service(database: str | None, settings: Settings, *, interactive: bool = True) -> TaskQueueService | None:
    """Open the queue database; on failure explain it (naming the file) and return None."""
    url = database_url(database, settings)
    where = display_url(url).removeprefix("sqlite:///")  # never the password
    advice = (
        "What to do: fix the problem above, or open another database: start Agent Queue with "
        "--db sqlite:///path/to/queue.db, or set AGENTQ_DATABASE_URL."
    )
    try:
        return _off_the_gui_thread(lambda: open_queue(url, settings), f"Opening {where}…")
    except (DatabaseFileError, AgentQueueError) as exc:
        log.error("cannot open the database %s: %s", where, exc)
        message = str(exc)
    except Exception as exc:
        log.exception("cannot open the database %s", where)
        message = f"An unexpected error ({type(exc).__name__}: {exc}). The details are in the log in {paths.log_dir()}."
    _problem("Agent Queue: database", f"Agent Queue cannot open the database {where}.", f"{message}\n\n{advice}",
             interactive=interactive)
    return None


def _off_the_gui_thread(work: Callable[[], T], message: str) -> T:
    """Run `work` on a helper thread behind a splash screen that keeps painting.

    Opening checks the whole database file (SQLite's quick_check), which takes seconds for a big
    queue on a cold disk; the splash shows at once what is happening.
    """
    app = QApplication.instance()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            outcome["error"] = exc

    helper = threading.Thread(target=target, name="agentq-open", daemon=True)
    helper.start()
    helper.join(SPLASH_AFTER_S)
    splash = None
    if helper.is_alive() and isinstance(app, QApplication):
        splash = QSplashScreen(app_icon().pixmap(160, 160))
        splash.showMessage(message, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter)
        splash.show()
        while helper.is_alive():
            app.processEvents()
            helper.join(0.02)
    helper.join()
    if splash is not None:
        splash.close()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def _install_excepthook(window: MainWindow) -> None:
    """An exception nobody caught (in a slot) is logged and shown as a short message, not a traceback."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("unexpected error:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        if isinstance(exc, Exception):
            show_error(window, exc)

    sys.excepthook = hook


async def _wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


def _screenshot_size() -> tuple[int, int] | None:
    width, _, height = os.environ.get("AGENTQ_SCREENSHOT_SIZE", "").partition("x")
    return (int(width), int(height)) if width.isdigit() and height.isdigit() else None


async def _screenshot(window: MainWindow, path: Path, view: str) -> None:
    """Wait until the window has loaded, grab it (or the view asked for) to `path`, and close the window."""
    size = _screenshot_size()
    if size is not None:
        window.resize(*size)
    QCursor.setPos(window.mapToGlobal(QPoint(window.width() // 3, window.height() - 4)))  # off the buttons
    await asyncio.sleep(SCREENSHOT_DELAY_S)
    shown: QWidget = window
    if view == "failed":
        window.tabs.setCurrentWidget(window.failed)
        await _wait_for(lambda: window.failed.model.rowCount() > 0)
        window.failed.select_first()
        await asyncio.sleep(0.8)  # the attempts are read on a read thread
    elif view == "running":
        window.tabs.setCurrentWidget(window.running)
        await _wait_for(lambda: window.running.model.rowCount() > 0)
        window.running.view.select_only(0)
        await asyncio.sleep(1.5)  # the output tail is polled
    elif view == "costs":
        window.stats.show_costs()
    elif view == "waiting":  # the details of a task that waits, with the reason
        waiting = [t for t in window.history.model.tasks if window.history.model.wait_reason(t.id)]
        if waiting:
            shown = window.open_details(waiting[0])
            await asyncio.sleep(0.8)
    elif view == "details":
        tasks = window.history.model.tasks
        task = next((t for t in tasks if task_prompt(t) is not None and t.attempts), None) or next(
            (t for t in tasks if t.status is TaskStatus.FAILED), tasks[0] if tasks else None)
        if task is not None:
            shown = window.open_details(task)
            await asyncio.sleep(0.8)
    elif view in ("transcript", "diff"):
        shown = await _coding_details(window, view, size)
    elif view == "repos":
        window.tabs.setCurrentWidget(window.repositories)
        window.repositories.refresh()
        await _wait_for(lambda: window.repositories.worktrees.rowCount() > 0)
        await asyncio.sleep(0.5)
    window.statusBar().clearMessage()  # no hover text from wherever the pointer happens to be
    for button in window.findChildren(QToolButton):
        QApplication.sendEvent(button, QEvent(QEvent.Type.Leave))
    await asyncio.sleep(0.1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not shown.grab().save(str(path)):
        log.error("could not write the screenshot %s", path)
    window.ask_close = lambda *_args: CloseChoice.STOP
    window.close()


async def _coding_details(window: MainWindow, view: str, size: tuple[int, int] | None) -> QWidget:
    """The details of the first completed coding task, on its transcript or diff tab."""
    await _wait_for(lambda: window.history.model.rowCount() > 0)
    done = [t for t in window.history.model.tasks if t.repo and t.status is TaskStatus.COMPLETED]
    task = min(done, key=lambda t: (t.follow_up_of is not None, t.id), default=None)  # the first, not a follow-up
    if task is None:
        return window
    dialog = window.open_details(task)
    if size is not None:
        dialog.resize(min(1280, size[0] - 40), min(860, size[1] - 40))
    details = dialog.details
    await _wait_for(lambda: details.review.review is not None and details.review.diff.table.rowCount() > 0)
    details.tabs.setCurrentIndex(details.transcript_tab if view == "transcript" else details.diff_tab)
    await asyncio.sleep(1.0)  # the transcript and the highlighted diff are read on read threads
    return dialog


def run_app(database: str | None = None) -> int:
    """Open the window on `database` (a URL; default: settings or the user data folder).

    Returns the process exit code: 0 after a normal quit, 1 if the queue could not be opened.
    """
    started = time.perf_counter()
    app = create_application()
    screenshot = os.environ.get("AGENTQ_SCREENSHOT")
    interactive = not screenshot
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO)
    settings = load_app_settings(interactive=interactive)
    if settings is None:
        return 1
    service = open_service(database, settings, interactive=interactive)
    if service is None:
        return 1
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    pool = WorkerPool(service, settings, output_dir=paths.data_dir() / "task-logs")
    window = MainWindow(service, pool, settings)
    closed = asyncio.Event()
    window.shutdown_finished.connect(closed.set)
    app.aboutToQuit.connect(closed.set)
    _install_excepthook(window)
    pool.start()
    window.start()
    if settings.api_enabled:
        window.http_api.apply(settings)  # served on this loop once it runs
    if settings.start_minimized and window.tray.available and not screenshot:
        window.tray.notify("Agent Queue", "Running in the tray.")
    else:
        window.show()
    log.info("window open in %.2f s", time.perf_counter() - started)
    try:
        with loop:
            if screenshot:
                loop.create_task(_screenshot(window, Path(screenshot), os.environ.get("AGENTQ_SCREENSHOT_VIEW", "")))
            loop.run_until_complete(closed.wait())
            loop.run_until_complete(window.http_api.stop())
    finally:
        if pool.is_running:
            pool.stop(grace_s=0)
        window.jobs.close()
        service.close()
        sys.excepthook = sys.__excepthook__
    return 0
