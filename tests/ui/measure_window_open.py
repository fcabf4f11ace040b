"""Measure how fast the window opens on a queue of 1,000,000 tasks, and its peak memory.

Run: `.venv/bin/python tests/ui/measure_window_open.py [--db /tmp/agentq-1m.db] [--rows 1000000]`
(not a test: pytest does not collect it). The database is built once with raw sqlite3 and reused.
The real `run_app` runs in a fresh process (so imports count); the measurement hooks into the
window from outside: the time until the history's first page is on screen, the peak RSS then,
and, while a sort by priority and a search run on the read threads, the longest stall of the
GUI thread's event loop. open_queue_s is the engine's part (migrations check and SQLite's
quick_check of the whole file). Targets: open < 2 s, RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ("echo-bot", "sleeper", "flaky-deploy", "git-pull", "nightly-report")

CHILD = r'''
import json, os, resource, sys, time
T0 = time.perf_counter()
from PySide6.QtCore import QTimer, Qt
from desktop.ui import app as app_module
from desktop.ui.close_flow import CloseChoice
from desktop.ui.main_window import MainWindow

report = {"imports_s": time.perf_counter() - T0}
original_start = MainWindow.start
original_run = app_module.run_app

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def start(window):
    model, view = window.history.model, window.history.view
    report["window_built_s"] = time.perf_counter() - T0
    stage = {"name": "open", "t": 0.0, "last_tick": 0.0, "max_gap": 0.0}
    ticker = QTimer(window)
    ticker.setInterval(5)

    def tick():
        now = time.perf_counter()
        if stage["last_tick"]:
            stage["max_gap"] = max(stage["max_gap"], now - stage["last_tick"])
        stage["last_tick"] = now

    ticker.timeout.connect(tick)

    def loaded(_rows):
        now = time.perf_counter()
        if stage["name"] == "open":
            view.viewport().repaint()  # painted, not just loaded
            report["first_page_on_screen_s"] = time.perf_counter() - T0
            report["first_page_from_run_app_s"] = time.perf_counter() - report["run_app_at"]
            report["rows_loaded"] = model.rowCount()
            report["peak_rss_mb_at_first_page"] = rss_mb()
            stage.update(name="scroll", t=now, last_tick=0.0, max_gap=0.0)
            ticker.start()
            view.scrollToBottom()
        elif stage["name"] == "scroll":
            report["next_page_s"] = now - stage["t"]
            stage.update(name="sort", t=time.perf_counter())
            view.sortByColumn(model.column_of("priority"), Qt.SortOrder.AscendingOrder)
        elif stage["name"] == "sort":
            report["sort_by_priority_first_page_s"] = now - stage["t"]
            stage.update(name="search", t=time.perf_counter())
            window.history.search.setText("nightly")
            window.history.apply_filter()
        elif stage["name"] == "search":
            report["search_first_page_s"] = now - stage["t"]
            report["max_gui_stall_ms_during_queries"] = stage["max_gap"] * 1000
            report["rows_loaded_at_end"] = model.rowCount()
            report["peak_rss_mb_at_end"] = rss_mb()
            window.ask_close = lambda *_: CloseChoice.STOP
            QTimer.singleShot(0, window.close)

    model.page_loaded.connect(loaded)
    original_start(window)

def run_app(database=None):
    report["run_app_at"] = time.perf_counter()
    return original_run(database)

original_open = app_module.open_queue

def open_queue(*args, **kwargs):
    started = time.perf_counter()
    try:
        return original_open(*args, **kwargs)
    finally:
        report["open_queue_s"] = time.perf_counter() - started

app_module.open_queue = open_queue
MainWindow.start = start
code = run_app(sys.argv[1])
report.pop("run_app_at")
print("REPORT " + json.dumps(report))
sys.exit(code)
'''


def build(path: Path, rows: int) -> None:
    """A migrated queue with `rows` tasks: mostly completed, some failed, cancelled and pending."""
    from desktop.queue import TaskQueueService

    if path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    service = TaskQueueService.open(f"sqlite:///{path}")
    for name in AGENTS:
        service.add_agent(name, "echo")
    service.close()
    now = time.time() - 3 * 86_400
    error = "RuntimeError: model checkpoint 'ckpt-0042' is missing its optimizer state"

    def row(i: int) -> tuple[object, ...]:
        status = "failed" if i % 50 == 7 else "cancelled" if i % 100 == 3 else "completed"
        pending = i >= rows - 20
        t = now + i * 0.25
        return (
            AGENTS[i % len(AGENTS)], f'{{"n":{i},"repo":"r{i % 97}"}}', 1 + i % 5,
            "pending" if pending else status, t + (86_400 * 30 if pending else 0), t,
            None if pending else t + 1, None if pending else t + 2.5, 0 if pending else 1, 3, 60.0, 3600.0,
            0 if pending else 100, 0, error if status == "failed" and not pending else None,
        )

    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO tasks (agent, payload, priority, status, scheduled_for, created_at, started_at, "
        "finished_at, attempts, max_retries, retry_base_s, retry_cap_s, progress, cancel_requested, last_error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row(i) for i in range(rows)),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def evict(path: Path) -> None:
    """Ask the OS to forget the cached pages of this one file (no root, no effect on other files)."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists():
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def count(path: Path) -> int:
    if not path.exists():
        return -1
    try:
        conn = sqlite3.connect(path)
        try:
            return int(conn.execute("SELECT count(*) FROM tasks").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "agentq-1m.db")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true",
                        help="drop the database file from the OS page cache before each run (a first start after boot)")
    args = parser.parse_args()
    if count(args.db) != args.rows:
        start = time.perf_counter()
        build(args.db, args.rows)
        print(f"built {args.db} with {args.rows:,} tasks in {time.perf_counter() - start:.1f} s")
    for run in range(1, args.runs + 1):
        if args.cold:
            evict(args.db)
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                       XDG_CONFIG_HOME=f"{home}/xdg", AGENTQ_DATA_DIR=f"{home}/data",
                       AGENTQ_CONFIG_DIR=f"{home}/config", AGENTQ_LOG_DIR=f"{home}/log")
            env.pop("AGENTQ_SCREENSHOT", None)
            spawned = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD, f"sqlite:///{args.db}"], env=env, cwd=ROOT,
                                  capture_output=True, text=True, timeout=300, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
            if done.returncode != 0 or not lines:
                print(done.stdout, done.stderr, file=sys.stderr)
                raise SystemExit(f"run {run} failed")
            report = json.loads(lines[-1][len("REPORT "):])
            report["process_total_s"] = time.perf_counter() - spawned
            print(f"run {run}{' (cold cache)' if args.cold else ''}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in report.items()))


if __name__ == "__main__":
    main()
