"""The reliability harness: SIGKILL chaos, SIGKILL during commits, and contention, as figures.

Run: `.venv/bin/python benchmarks/reliability.py [--quick] [--only chaos,commits,contention,supervisor]`
(`--tasks N`, `--commit-rounds N`, `--contention-s S` change one size of the plan).
Linux only (process groups, /proc). Everything runs in a temporary folder, through the public
`agentq` command line (workers, CLI calls, the window offscreen) and `TaskQueueService`'s public
methods, so it keeps working when the engine inside changes.

- kill -9 chaos: real `agentq worker` processes drain a mix of echo tasks and short `command`
  tasks (some under lock keys) while a random worker is SIGKILLed (and restarted) every few
  seconds; then it waits until every task has settled. Figures: lost (enqueued, no longer in the
  database), stuck (unfinished at the deadline), failed, double completions (a task with two
  completed attempts), lock keys run twice at once (overlapping attempts of one key), programs of
  one lock key alive at once (each command holds `flock -n` on its key's file: a second copy that
  finds it held exits 75), programs still running 1 s after their worker's SIGKILL and the slowest
  death, programs left running after it all (orphans), tracebacks, integrity.
- kill during commit: a process enqueues and completes tasks in a loop, printing each id once
  its commit returned, and is SIGKILLed at a random moment, round after round. Figures: the
  acknowledged enqueues and completions missing afterwards, integrity.
- contention: the window (offscreen), two workers and loops of CLI calls on one file for a while.
  Figures: calls, failed calls, "database is locked" seen, tracebacks seen, integrity.
- supervisor: the extra start-up cost of a supervised command over a bare subprocess.

Exits 1 when any figure shows a failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from desktop.agents import supervise
from desktop.queue import TaskQueueService

UNFINISHED = ("pending", "blocked", "running", "retrying")
LOCKED = "database is locked"
TRACEBACK = "Traceback (most recent call last)"
FLOCK_CONFLICT = 75  # the exit code of `flock -n -E 75` when another process holds the lock
SETTINGS = {"lease_s": 2.0, "retry_base_s": 0.0, "poll_interval_s": 0.2}
OUTLIVED_S = 1.0  # a program still running this long after its worker's SIGKILL outlived it


@dataclasses.dataclass(frozen=True)
class Plan:
    tasks: int
    workers: int
    kill_every_s: float
    settle_limit_s: float
    commit_rounds: int
    contention_s: float
    cli_loops: int
    supervisor_runs: int


FULL = Plan(tasks=5_000, workers=4, kill_every_s=5.0, settle_limit_s=1_800, commit_rounds=500, contention_s=240,
            cli_loops=4, supervisor_runs=200)
QUICK = Plan(tasks=1_000, workers=4, kill_every_s=5.0, settle_limit_s=600, commit_rounds=40, contention_s=60,
             cli_loops=2, supervisor_runs=50)


class Harness:
    """The temporary folder, and the processes started in it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "config"
        self.config.mkdir(parents=True)
        (self.config / "settings.json").write_text(json.dumps(SETTINGS))
        self.outputs: list[Path] = []  # every process's output file, to scan at the end

    def env(self, url: str, name: str) -> dict[str, str]:
        """The environment of one agentq process: shared database and settings, its own log folder."""
        return {
            **os.environ, "AGENTQ_DATABASE_URL": url, "AGENTQ_CONFIG_DIR": str(self.config),
            "AGENTQ_DATA_DIR": str(self.folder / "data"), "AGENTQ_LOG_DIR": str(self.folder / "logs" / name),
            "AGENTQ_ENV": "test", "QT_QPA_PLATFORM": "offscreen",
        }

    def start(self, url: str, name: str, *args: str) -> subprocess.Popen[bytes]:
        output = self.folder / f"{name}.out"
        self.outputs.append(output)
        self.outputs.append(self.folder / "logs" / name / "agentq.log")
        with output.open("ab") as sink:
            return subprocess.Popen([sys.executable, "-m", "desktop", *args], env=self.env(url, name),
                                    stdout=sink, stderr=subprocess.STDOUT)

    def cli(self, url: str, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "desktop", *args], env=self.env(url, name), capture_output=True,
                              text=True, timeout=300, check=False)

    def seen(self, text: str) -> int:
        """How many times `text` appears in every process's output and log."""
        return sum(p.read_text(errors="replace").count(text) for p in set(self.outputs) if p.exists())


def stop(process: subprocess.Popen[bytes], how: signal.Signals = signal.SIGTERM, limit: float = 60) -> None:
    if process.poll() is None:
        process.send_signal(how)
    try:
        process.wait(limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return ", ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def all_tasks(service: TaskQueueService) -> dict[int, Any]:
    found: dict[int, Any] = {}
    before: int | None = None
    while page := service.list_tasks(limit=1_000, before_id=before):
        found.update((task.id, task) for task in page)
        before = page[-1].id
    return found


def double_completions(service: TaskQueueService, tasks: dict[int, Any]) -> tuple[int, int, list[Any]]:
    """(tasks completed twice, lock-key attempts that overlapped another of the same key, all attempts)."""
    twice, by_key, attempts = 0, defaultdict(list), []
    for task in tasks.values():
        tried = service.attempts(task.id)
        attempts.extend(tried)
        twice += sum(a.outcome == "completed" for a in tried) > 1
        if task.lock_key:
            by_key[task.lock_key].extend(tried)
    overlaps = 0
    for tried in by_key.values():
        latest: datetime | None = None
        for attempt in sorted(tried, key=lambda a: a.started_at):
            end = attempt.finished_at or datetime.max.replace(tzinfo=attempt.started_at.tzinfo)
            if latest is not None and attempt.started_at < latest:
                overlaps += 1
            latest = end if latest is None else max(latest, end)
    return twice, overlaps, attempts


def programs(folder: Path, under: int | None = None) -> list[int]:
    """Running processes whose command line names the harness's folder (its programs), all of
    them or only the descendants of process `under`."""
    parents: dict[int, int] = {}
    named: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = stat[stat.rfind(")") + 2:].split()[:2]
        parents[int(entry.name)] = int(ppid)
        if state not in "ZX" and str(folder).encode() in cmdline:
            named.append(int(entry.name))

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == under:
                return True
        return False

    return [pid for pid in named if under is None or descends(pid)]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


class DeathWatch:
    """After each SIGKILL of a worker: how long its programs took to die, and how many outlived it."""

    def __init__(self) -> None:
        self.slowest_ms = 0.0
        self.outlived = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def watch(self, victims: list[int], killed_at: float) -> None:
        thread = threading.Thread(target=self._follow, args=(victims, killed_at))
        thread.start()
        self._threads.append(thread)

    def _follow(self, victims: list[int], killed_at: float) -> None:
        left = set(victims)
        while left and time.monotonic() - killed_at < OUTLIVED_S:
            left = {pid for pid in left if alive(pid)}
            time.sleep(0.005)
        with self._lock:
            if left:
                self.outlived += len(left)
            elif victims:
                self.slowest_ms = max(self.slowest_ms, (time.monotonic() - killed_at) * 1000)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()


# -- kill -9 chaos ------------------------------------------------------------------------------


def chaos(harness: Harness, plan: Plan) -> dict[str, Any]:
    db = harness.folder / "chaos.db"
    url = f"sqlite:///{db}"
    locks = harness.folder / "locks"
    locks.mkdir()
    service = TaskQueueService.open(url)
    service.add_agent("echo", "echo", concurrency=64)
    argv = ["flock", "-n", "-E", str(FLOCK_CONFLICT), "{lock}", "sleep", "{secs}"]
    service.add_agent("cmd", "command", {"argv": argv}, concurrency=64)
    rng = random.Random(14)
    items: list[dict[str, Any]] = []
    for i in range(plan.tasks):
        roll = rng.random()
        if roll < 0.6:
            items.append({"agent": "echo", "payload": {"n": i}, "max_retries": 50})
        elif roll < 0.85:
            payload = {"lock": str(locks / f"task-{i}"), "secs": "0.05"}
            items.append({"agent": "cmd", "payload": payload, "max_retries": 50})
        else:  # longer than OUTLIVED_S, so a program that survives its worker is seen
            key = f"repo-{rng.randrange(20)}"
            items.append({"agent": "cmd", "payload": {"lock": str(locks / key), "secs": "1.5"}, "lock_key": key,
                          "max_retries": 50})
    ids = [task.id for task in service.enqueue_many(items)]
    workers = [harness.start(url, f"chaos-worker-{n}", "worker", "--concurrency", "2") for n in range(plan.workers)]
    started = time.monotonic()
    next_kill, kills, deaths = started + plan.kill_every_s, 0, DeathWatch()
    while (left := service.count_tasks(status=UNFINISHED)) and time.monotonic() - started < plan.settle_limit_s:
        if time.monotonic() >= next_kill:
            victim = rng.randrange(len(workers))
            running = programs(harness.folder, under=workers[victim].pid)
            workers[victim].kill()
            deaths.watch(running, time.monotonic())
            workers[victim].wait()
            kills += 1
            workers[victim] = harness.start(url, f"chaos-worker-{victim}", "worker", "--concurrency", "2")
            next_kill += plan.kill_every_s
        time.sleep(0.25)
    elapsed = time.monotonic() - started
    for worker in workers:
        stop(worker)
    deaths.join()
    tasks = all_tasks(service)
    twice, overlapping, attempts = double_completions(service, tasks)
    statuses = Counter(task.status.value for task in tasks.values())
    service.close()
    return {
        "workers": plan.workers, "tasks": plan.tasks, "kills": kills, "seconds": round(elapsed, 1),
        "lost": len(set(ids) - set(tasks)), "stuck": left, "failed": statuses.get("failed", 0),
        "completed": statuses.get("completed", 0), "lost_attempts": sum(a.outcome == "lost" for a in attempts),
        "double_completions": twice, "lock_key_overlaps": overlapping,
        "programs_of_one_key_at_once": sum(f"exit code {FLOCK_CONFLICT}" in (a.error or "") for a in attempts),
        "programs_outliving_their_worker": deaths.outlived, "slowest_program_death_ms": round(deaths.slowest_ms),
        "orphaned_programs": len(programs(harness.folder)), "tracebacks": harness.seen(TRACEBACK),
        "database_locked": harness.seen(LOCKED), "integrity": integrity(db),
    }


# -- SIGKILL during commits ---------------------------------------------------------------------

COMMITTER = r"""
import sys
from desktop.queue import TaskQueueService

service = TaskQueueService.open(sys.argv[1])
print("ready", flush=True)
while True:
    task = service.enqueue("echo", {"round": sys.argv[2]})
    print("E", task.id, flush=True)
    claim = service.dequeue("committer")
    if claim is not None:
        service.complete(claim.id, claim.token, {"ok": True})
        print("C", claim.id, flush=True)
"""


def commit_rounds(harness: Harness, plan: Plan) -> dict[str, Any]:
    db = harness.folder / "commits.db"
    url = f"sqlite:///{db}"
    service = TaskQueueService.open(url)
    service.add_agent("echo", "echo", concurrency=10_000)  # tasks a killed round left running hold no slot
    rng = random.Random(1025)
    enqueued: set[int] = set()
    completed: set[int] = set()
    for number in range(plan.commit_rounds):
        child = subprocess.Popen([sys.executable, "-c", COMMITTER, url, str(number)], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, env=harness.env(url, "committer"))
        assert child.stdout is not None
        if child.stdout.readline() != "ready\n":
            raise RuntimeError(f"the committing process did not start (exit {child.wait()})")
        killer = threading.Timer(rng.uniform(0.005, 0.3), child.send_signal, (signal.SIGKILL,))
        killer.start()
        for line in child.stdout:
            if line.endswith("\n"):  # a line cut by the kill was never acknowledged
                kind, task_id = line.split()
                (enqueued if kind == "E" else completed).add(int(task_id))
        child.wait()
        killer.join()
    tasks = all_tasks(service)
    service.close()
    return {
        "rounds": plan.commit_rounds, "acknowledged_enqueues": len(enqueued),
        "acknowledged_completions": len(completed),
        "enqueues_lost": len(enqueued - set(tasks)),
        "completions_lost": sum(1 for i in completed if i not in tasks or tasks[i].status.value != "completed"),
        "integrity": integrity(db),
    }


# -- contention ---------------------------------------------------------------------------------

def contention(harness: Harness, plan: Plan) -> dict[str, Any]:
    db = harness.folder / "contention.db"
    url = f"sqlite:///{db}"
    service = TaskQueueService.open(url)
    service.add_agent("echo", "echo", concurrency=8)
    service.add_agent("cmd", "command", {"argv": ["flock", "-n", "-E", str(FLOCK_CONFLICT), "{lock}", "sleep", "0.05"]},
                      concurrency=8)
    service.close()
    window = harness.start(url, "window")
    workers = [harness.start(url, f"contention-worker-{n}", "worker", "--concurrency", "2") for n in range(2)]
    deadline = time.monotonic() + plan.contention_s
    calls: Counter[str] = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def loop(n: int) -> None:
        name = f"cli-{n}"
        lock_file = harness.folder / f"contention-lock-{n}"
        while time.monotonic() < deadline:
            made = harness.cli(url, name, "enqueue", "echo", "--payload", json.dumps({"loop": n}), "--json")
            steps = [
                ("enqueue", "cmd", "--payload", json.dumps({"lock": str(lock_file)}), "--lock-key", f"loop-{n}"),
                ("list", "--limit", "20"), ("stats", "--json"), ("locks",), ("metrics",),
            ]
            if made.returncode == 0:
                steps.append(("show", str(json.loads(made.stdout)[0]["id"])))
            results = [made] + [harness.cli(url, name, *step) for step in steps]
            with lock:
                for result in results:
                    calls[result.args[3]] += 1
                    if result.returncode != 0 or TRACEBACK in result.stderr or LOCKED in result.stderr:
                        failures.append(f"{' '.join(result.args[3:])}: {result.stderr.strip()[:200]}")

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(plan.cli_loops)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    window_alive = window.poll() is None
    for worker in workers:
        stop(worker)
    stop(window)
    service = TaskQueueService.open(url)
    tasks = all_tasks(service)
    twice, overlapping, _ = double_completions(service, tasks)
    service.close()
    return {
        "seconds": plan.contention_s, "cli_loops": plan.cli_loops, "cli_calls": sum(calls.values()),
        "failed_calls": len(failures), "first_failures": failures[:3], "window_ran_throughout": window_alive,
        "tasks": len(tasks), "database_locked": harness.seen(LOCKED) + sum(LOCKED in f for f in failures),
        "tracebacks": harness.seen(TRACEBACK) + sum(TRACEBACK in f for f in failures),
        "double_completions": twice, "lock_key_overlaps": overlapping, "integrity": integrity(db),
    }


# -- supervisor start-up cost -------------------------------------------------------------------


def supervisor_cost(plan: Plan) -> dict[str, Any]:
    def bare() -> None:
        proc = subprocess.Popen(["true"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        assert proc.stdout is not None
        proc.stdout.read()
        proc.wait()

    def supervised() -> None:
        proc = supervise.start(["true"])
        proc.stdout.read()
        proc.wait()

    timings = {}
    for name, run in (("bare_ms", bare), ("supervised_ms", supervised)):
        run()  # warm
        start = time.perf_counter()
        for _ in range(plan.supervisor_runs):
            run()
        timings[name] = round((time.perf_counter() - start) / plan.supervisor_runs * 1000, 1)
    extra = round(timings["supervised_ms"] - timings["bare_ms"], 1)
    return {**timings, "extra_ms": extra, "runs": plan.supervisor_runs}


# -- report -------------------------------------------------------------------------------------

FAILURES = {
    "chaos": ("lost", "stuck", "failed", "double_completions", "lock_key_overlaps", "programs_of_one_key_at_once",
              "programs_outliving_their_worker", "orphaned_programs", "tracebacks", "database_locked"),
    "commits": ("enqueues_lost", "completions_lost"),
    "contention": ("failed_calls", "database_locked", "tracebacks", "double_completions", "lock_key_overlaps"),
    "supervisor": (),
}
SECTIONS = {"chaos": chaos, "commits": commit_rounds, "contention": contention}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller numbers: about five minutes")
    parser.add_argument("--only", default=",".join(FAILURES), help="comma-separated: " + ", ".join(FAILURES))
    parser.add_argument("--tasks", type=int, help="chaos: tasks to drain")
    parser.add_argument("--commit-rounds", type=int, help="kill during commit: rounds")
    parser.add_argument("--contention-s", type=float, help="contention: seconds")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    sizes = {"tasks": args.tasks, "commit_rounds": args.commit_rounds, "contention_s": args.contention_s}
    plan = dataclasses.replace(plan, **{k: v for k, v in sizes.items() if v is not None})
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(FAILURES)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    size = ("quick" if args.quick else "full") + (" with sizes changed" if any(v is not None for v in sizes.values()) else "")
    print(f"plan: {size} {dataclasses.asdict(plan)}; load average {os.getloadavg()[0]:.2f}")
    bad = False
    with tempfile.TemporaryDirectory(prefix="agentq-reliability-") as tmp:
        for name in chosen:
            harness = Harness(Path(tmp) / name)
            started = time.monotonic()
            figures = supervisor_cost(plan) if name == "supervisor" else SECTIONS[name](harness, plan)
            broken = [key for key in FAILURES[name] if figures.get(key)]
            if "integrity" in figures and figures["integrity"] != "ok":
                broken.append("integrity")
            bad = bad or bool(broken)
            verdict = "FAILED: " + ", ".join(broken) if broken else "ok"
            print(f"{name} ({time.monotonic() - started:.0f} s): {json.dumps(figures)} -> {verdict}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
