"""A realistic demo queue for screenshots and trying the window out (not a test module).

Run: `.venv/bin/python tests/ui/demo_database.py /tmp/demo.db [--screenshots docs/screenshots]`

It defines agents of the kinds echo, sleep, fail and command, then plays back an hour of work
through the real service with a moving clock: tasks complete, fail with real tracebacks, retry,
get cancelled, wait on dependencies and on the clock. A `coder` agent has prompts in
repositories: done, failed, one running on another machine and one waiting for its repository.
With --screenshots it starts the real app (AGENTQ_SCREENSHOT) on a copy of the database, in
light and dark and at 1600x1000 and 1024x700, and saves the window, the Failed tab and a task's
details.
"""

from __future__ import annotations

import argparse
import json
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

from desktop.queue import RetryPolicy, TaskQueueService, repo_lock_key

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
    clock.now = now - 900  # the coder's work began a quarter of an hour ago
    add_coding_tasks(service, clock)
    service.close()


PROMPTS = (
    ("billing-api", "completed", "Fix the flaky test in tests/test_invoices.py: it fails when the clock\n"
     "crosses midnight. Keep the test, fix the code, and explain the cause in the commit message."),
    ("docs-site", "failed", "Upgrade the site to the new theme version and fix the broken links the\n"
     "link checker reports."),
    ("web-frontend", "running", "Add a dark mode toggle to the settings page.\n\n"
     "- store the choice in localStorage\n- follow the system setting by default\n- add a test"),
    ("web-frontend", "waiting", "Rename the Button component's `kind` prop to `variant` everywhere."),
)


def add_coding_tasks(service: TaskQueueService, clock: MovingClock) -> None:
    """Prompts of a coding agent in repositories: one done, one failed, one running on another
    machine (its lease outlives the screenshots) and one waiting for that repository."""
    service.add_agent("coder", "command", {"argv": ["claude", "-p", "{prompt}"], "cwd": "{repo}"},
                      concurrency=2, timeout_s=1800.0, max_retries=0)
    for name, outcome, prompt in PROMPTS:
        repo = f"/home/dev/src/{name}"
        task = service.enqueue("coder", {"prompt": prompt, "repo": repo}, lock_key=repo_lock_key(repo),
                               priority=4, created_by="window")
        if outcome == "waiting":
            continue
        clock.now += 30.0
        claimed = service.dequeue(WORKER, lease_s=3600, agents=["coder"])
        assert claimed is not None and claimed.id == task.id
        token = claimed.token
        clock.now += 240.0
        if outcome == "running":
            service.heartbeat(task.id, token, lease_s=3600, progress=0, message="editing src/settings.tsx",
                              output_tail="Reading src/pages/Settings.tsx\nAdding ThemeToggle…\nRunning npm test")
        elif outcome == "completed":
            service.complete(task.id, token, {"exit_code": 0, "output_tail": "Fixed: dates compared in UTC."},
                             output_tail="Ran 212 tests: all passed\nCommitted 3f9a2c1 on agentq/task-branch",
                             details={"cost_usd": 0.42, "input_tokens": 48_200, "output_tokens": 3_100})
        else:
            service.fail(task.id, token, "exit code 1: the link checker still reports 3 broken links",
                         retryable=False, output_tail="Checked 840 links\n3 broken: /guide/install, /api, /faq",
                         details={"cost_usd": 0.17, "input_tokens": 21_900, "output_tokens": 1_450})


SHOTS = (  # file, view (see desktop/ui/app.py), window size, colour scheme
    ("main-window.png", "", "1600x1000", "light"),
    ("main-window-dark.png", "", "1600x1000", "dark"),
    ("main-window-1024x700.png", "", "1024x700", "light"),
    ("main-window-1024x700-dark.png", "", "1024x700", "dark"),
    ("failed-task.png", "failed", "1600x1000", "light"),
    ("failed-task-1024x700-dark.png", "failed", "1024x700", "dark"),
    ("running-task-dark.png", "running", "1600x1000", "dark"),
    ("task-details.png", "details", "1600x1000", "light"),
    ("task-details-dark.png", "details", "1600x1000", "dark"),
)


def screenshots(db: Path, folder: Path) -> None:
    """Run the real app on a copy of `db` for each of SHOTS and grab what it names."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, view, size, scheme in SHOTS:
        with tempfile.TemporaryDirectory() as home:  # a fresh home: no remembered window layout
            width, height = (int(n) for n in size.split("x"))
            screen = Path(home) / "screen.json"  # an offscreen screen of the shot's size (dialogs fit it)
            screen.write_text(json.dumps({"screens": [{"name": "shot", "x": 0, "y": 0, "width": width,
                                                       "height": height, "logicalDpi": 96, "dpr": 1}]}))
            env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={screen}", XDG_CONFIG_HOME=f"{home}/xdg",
                       AGENTQ_DATA_DIR=f"{home}/data", AGENTQ_CONFIG_DIR=f"{home}/config", AGENTQ_LOG_DIR=f"{home}/log")
            copy = Path(home) / "queue.db"
            shutil.copy(db, copy)
            env.update(AGENTQ_SCREENSHOT=str(folder / name), AGENTQ_SCREENSHOT_VIEW=view,
                       AGENTQ_SCREENSHOT_SIZE=size, AGENTQ_COLOR_SCHEME=scheme)
            code = f"from desktop.ui.app import run_app; raise SystemExit(run_app(database={f'sqlite:///{copy}'!r}))"
            subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=120)
            print("wrote", folder / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", type=Path)
    parser.add_argument("--screenshots", type=Path, help="folder for the screenshots (SHOTS)")
    args = parser.parse_args()
    build(args.database)
    service = TaskQueueService.open(f"sqlite:///{args.database}")
    print(f"{args.database}: {service.stats().by_status}")
    service.close()
    if args.screenshots:
        screenshots(args.database, args.screenshots)


if __name__ == "__main__":
    main()
