"""A realistic demo queue for screenshots and trying the window out (not a test module).

Run: `.venv/bin/python tests/ui/demo_database.py /tmp/demo.db [--screenshots docs/screenshots]`

It defines agents of the kinds echo, sleep, fail and command, then plays back an hour of work
through the real service with a moving clock: tasks complete, fail with real tracebacks, retry,
get cancelled, wait on dependencies and on the clock. With --screenshots it starts the real app
(AGENTQ_SCREENSHOT) on a copy of the database and saves main-window.png and failed-task.png.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

from desktop.queue import RetryPolicy, TaskQueueService

ROOT = Path(__file__).resolve().parents[2]
WORKER = "build-01:4242:9f3ac1"
REPOS = ("agent-queue", "web-frontend", "billing-api", "docs-site", "infra", "ml-pipeline")


class MovingClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _traceback_for(error: Exception) -> str:
    """A real traceback, from really raising `error` a few frames deep."""

    def fetch_artifact(url: str) -> None:
        raise error

    def run_step(step: dict[str, str]) -> None:
        fetch_artifact(step["url"])

    try:
        run_step({"url": "https://ci.example.com/artifacts/build.tar.gz"})
    except type(error):
        return traceback.format_exc()
    return ""


FAILURES = (
    ConnectionError("HTTPSConnectionPool(host='ci.example.com', port=443): Read timed out. (read timeout=30)"),
    RuntimeError("model checkpoint 'ckpt-0042' is missing its optimizer state"),
    ValueError("payload field 'branch' must name an existing branch (got 'feature/old-login')"),
    PermissionError("[Errno 13] Permission denied: '/srv/deploy/releases/current'"),
    TimeoutError("timed out after 60 s"),
)


def build(path: Path, *, seed: int = 7) -> None:
    """Fill a new database at `path` with an hour of history and work in every status."""
    rng = random.Random(seed)
    if path.exists():
        path.unlink()
    now = time.time()
    clock = MovingClock(now - 3700)
    service = TaskQueueService.open(f"sqlite:///{path}", clock=clock, retry_policy=RetryPolicy(3, 20.0, 600.0))
    service.add_agent("echo-bot", "echo", concurrency=4)
    service.add_agent("sleeper", "sleep", concurrency=2)
    service.add_agent("flaky-deploy", "fail", max_retries=2, retry_base_s=30.0)
    service.add_agent("git-pull", "command", {"argv": ["git", "-C", "/srv/repos/{repo}", "pull", "--ff-only"]},
                      concurrency=2, timeout_s=120.0)
    service.add_agent("nightly-report", "command", {"argv": ["python3", "-m", "reports.nightly", "--day", "{day}"]})

    def payload(agent: str, i: int) -> object:
        if agent == "echo-bot":
            return {"message": f"hello #{i}", "channel": rng.choice(["#builds", "#alerts", "#ml"])}
        if agent == "sleeper":
            return {"seconds": rng.choice([1, 2, 5, 10])}
        if agent == "flaky-deploy":
            return {"service": rng.choice(["billing", "search", "auth"]), "version": f"1.{rng.randint(2, 9)}.{i % 20}"}
        if agent == "git-pull":
            return {"repo": rng.choice(REPOS)}
        return {"day": (datetime.now(UTC) - timedelta(days=rng.randint(1, 9))).date().isoformat()}

    agents = ("echo-bot", "echo-bot", "echo-bot", "sleeper", "git-pull", "git-pull", "flaky-deploy", "nightly-report")
    count = 0
    for minute in range(61):  # one minute at a time over the last hour
        clock.now = now - 3660 + minute * 60
        batch = []
        for _ in range(rng.randint(3, 9)):
            agent = rng.choice(agents)
            count += 1
            body = payload(agent, count)
            locked = agent == "git-pull" and rng.random() < 0.5
            batch.append({
                "agent": agent, "payload": body, "priority": rng.choice([2, 3, 3, 3, 4, 5]),
                "lock_key": f"repo:{body['repo']}" if locked else None,  # type: ignore[index]
                "task_type": {"git-pull": "sync", "nightly-report": "report", "flaky-deploy": "deploy"}.get(agent),
            })
        service.enqueue_many(batch)
        if minute == 60:
            break
        for _ in range(len(batch) + 2):
            clock.now += rng.uniform(0.5, 4.0)
            claimed = service.dequeue(WORKER, lease_s=3600)
            if claimed is None:
                break
            clock.now += rng.uniform(0.05, 6.0)
            task, token = claimed.task, claimed.token
            fails = task.agent == "flaky-deploy" or (task.agent == "nightly-report" and rng.random() < 0.5)
            if fails or rng.random() < 0.04:
                template = rng.choice(FAILURES)
                error = type(template)(*template.args)  # a fresh exception: a reused one grows its traceback
                service.fail(task.id, token, f"{type(error).__name__}: {error}", traceback=_traceback_for(error),
                             output_tail=f"starting {task.agent}\nstep 1/3 ok\nstep 2/3 failed: {error}")
            else:
                tail = "Already up to date." if task.agent == "git-pull" else f"done: {task.payload}"
                service.complete(task.id, token, {"ok": True}, output_tail=tail)

    clock.now = now
    # Work that stays in other states: cancelled, blocked behind a scheduled task, scheduled later.
    later = service.enqueue("git-pull", {"repo": "infra"}, scheduled_for=datetime.now(UTC) + timedelta(hours=2))
    for i in range(6):
        service.enqueue("echo-bot", {"message": f"after the infra sync #{i}"}, depends_on=[later.id])
    for i in range(12):
        service.enqueue("nightly-report", {"day": f"2026-05-{i + 1:02d}"}, scheduled_for=datetime.now(UTC) + timedelta(minutes=30 + i))
    for task in service.list_tasks(status="pending", limit=8):
        service.cancel(task.id)
    service.enqueue_many([{"agent": "sleeper", "payload": {"seconds": 90}, "priority": 5} for _ in range(3)])
    service.pause("nightly-report")
    service.close()


def screenshots(db: Path, folder: Path) -> None:
    """Run the real app on a copy of `db` and grab the main window, then the Failed tab."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, view in (("main-window.png", ""), ("failed-task.png", "failed")):
        with tempfile.TemporaryDirectory() as home:  # a fresh home: no remembered window layout
            env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=f"{home}/xdg",
                       AGENTQ_DATA_DIR=f"{home}/data", AGENTQ_CONFIG_DIR=f"{home}/config", AGENTQ_LOG_DIR=f"{home}/log")
            copy = Path(home) / "queue.db"
            shutil.copy(db, copy)
            env.update(AGENTQ_SCREENSHOT=str(folder / name), AGENTQ_SCREENSHOT_VIEW=view)
            code = f"from desktop.ui.app import run_app; raise SystemExit(run_app(database={f'sqlite:///{copy}'!r}))"
            subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=120)
            print("wrote", folder / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", type=Path)
    parser.add_argument("--screenshots", type=Path, help="folder for main-window.png and failed-task.png")
    args = parser.parse_args()
    build(args.database)
    service = TaskQueueService.open(f"sqlite:///{args.database}")
    print(f"{args.database}: {service.stats().by_status}")
    service.close()
    if args.screenshots:
        screenshots(args.database, args.screenshots)


if __name__ == "__main__":
    main()
