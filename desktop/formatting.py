"""Text and JSON renderings of queue values for the command line, and Prometheus metrics."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from desktop.queue import Attempt, QueueStats, Task, TaskQueueService


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and datetimes as plain JSON values (datetimes in ISO 8601, UTC)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, ensure_ascii=False)


def when(value: datetime | None) -> str:
    """A local, second-precision time, or '-'."""
    return "-" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def age(since: datetime | None, now: datetime | None = None) -> str:
    if since is None:
        return "-"
    seconds = int(((now or datetime.now(UTC)) - since).total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain, left-aligned text table."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in cells)


def short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def task_table(tasks: Sequence[Task], waiting: Mapping[int, str] | None = None, *, wide: bool = False) -> str:
    """Tasks one a line; with `waiting` (TaskQueueService.wait_reasons), why each waiting one
    waits. Long texts are cut to fit a terminal unless `wide`."""
    waiting = waiting or {}

    def cut(text: str | None, limit: int) -> str:
        return (text or "").replace("\n", " ") if wide else short(text, limit)

    return table(
        ("ID", "STATUS", "PRI", "AGENT", "TRIES", "SCHEDULED", "FINISHED", "WAITING", "LAST ERROR"),
        (
            (t.id, t.status.value, t.priority, t.agent, t.attempts, when(t.scheduled_for), when(t.finished_at),
             cut(waiting.get(t.id), 40) or "-", cut(t.last_error, 40))
            for t in tasks
        ),
    )


def task_details(
    task: Task, attempts: Sequence[Attempt], depends_on: Sequence[int], waiting: str | None = None
) -> str:
    """`agentq show`: the task, why it waits (TaskQueueService.wait_reasons), every attempt."""
    lines = [
        f"Task {task.id}  [{task.status.value}]  agent {task.agent}  priority {task.priority}",
        f"  created    {when(task.created_at)}   scheduled {when(task.scheduled_for)}",
        f"  started    {when(task.started_at)}   finished  {when(task.finished_at)}",
        f"  attempts   {task.attempts} (max retries {task.max_retries})",
    ]
    for label, value in (
        ("waiting", waiting),
        ("type", task.task_type), ("lock key", task.lock_key), ("unique key", task.unique_key),
        ("timeout", f"{task.timeout_s:g} s" if task.timeout_s else None), ("worker", task.lease_owner),
        ("depends on", ", ".join(map(str, depends_on)) or None), ("notify", task.notify_url),
    ):
        if value:
            lines.append(f"  {label:<10} {value}")
    lines += ["", "Payload:", _indent(json.dumps(task.payload, indent=2, ensure_ascii=False))]
    if task.result is not None:
        lines += ["", "Result:", _indent(json.dumps(task.result, indent=2, ensure_ascii=False))]
    if task.last_error:
        lines += ["", "Last error:", _indent(task.last_error)]
    for attempt in attempts:
        duration = "-" if attempt.duration_ms is None else f"{attempt.duration_ms} ms"
        lines += [
            "",
            f"Attempt {attempt.number}: {attempt.outcome}  worker {attempt.worker_id}  "
            f"started {when(attempt.started_at)}  took {duration}",
        ]
        if attempt.error:
            lines.append(_indent(attempt.error))
        if attempt.traceback:
            lines.append(_indent(attempt.traceback.rstrip()))
        if attempt.output_tail:
            lines += ["  output (tail):", _indent(attempt.output_tail.rstrip(), 4)]
    return "\n".join(lines)


def stats_text(stats: QueueStats) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    lines = [f"Queue {'PAUSED' if stats.paused else 'running'}  ({stats.total} tasks)"]
    lines += [f"  {status:<10} {count}" for status, count in stats.by_status.items()]
    rate = "-" if stats.success_rate is None else f"{stats.success_rate:.1%}"
    overall = "-" if stats.overall_success_rate is None else f"{stats.overall_success_rate:.1%}"
    lines += [
        f"Attempts (all time, kept through cleanup): {stats.processed:,} processed, {stats.succeeded:,} succeeded, "
        f"{stats.failed:,} failed, success {overall}",
        f"Last hour: {stats.throughput_last_hour} completed ({stats.throughput_last_minute} in the last minute), "
        f"success {rate}, average wait {seconds(stats.avg_wait_s)}, run {seconds(stats.avg_run_s)}",
        f"Last finished: {when(stats.last_finished_at)}",
    ]
    return "\n".join(lines)


def metrics(service: TaskQueueService) -> str:
    """Counters and gauges in the Prometheus text exposition format."""
    stats = service.stats()
    out = [
        "# HELP agentq_tasks Tasks in the queue by agent and status.",
        "# TYPE agentq_tasks gauge",
    ]
    for agent, counts in sorted(stats.by_agent.items()):
        for status, count in sorted(counts.items()):
            out.append(f'agentq_tasks{{agent="{_label(agent)}",status="{status}"}} {count}')
    out += ["# HELP agentq_attempts_total Attempts by agent and outcome.", "# TYPE agentq_attempts_total counter"]
    totals = service.attempt_totals()
    for agent, outcome, count, _ in totals:
        out.append(f'agentq_attempts_total{{agent="{_label(agent)}",outcome="{outcome}"}} {count}')
    out += [
        "# HELP agentq_attempt_duration_seconds Time spent in attempts by agent.",
        "# TYPE agentq_attempt_duration_seconds summary",
    ]
    by_agent: dict[str, tuple[int, float]] = {}
    for agent, _, count, seconds in totals:
        n, total = by_agent.get(agent, (0, 0.0))
        by_agent[agent] = (n + count, total + seconds)
    for agent, (count, seconds) in sorted(by_agent.items()):
        out.append(f'agentq_attempt_duration_seconds_sum{{agent="{_label(agent)}"}} {seconds:.3f}')
        out.append(f'agentq_attempt_duration_seconds_count{{agent="{_label(agent)}"}} {count}')
    costs = service.ledger(1).by_agent
    if costs:
        out += ["# HELP agentq_cost_usd_total What agents' attempts cost (US dollars).",
                "# TYPE agentq_cost_usd_total counter"]
        out += [f'agentq_cost_usd_total{{agent="{_label(line.key)}"}} {line.cost_usd:.6f}' for line in costs]
    out += [
        "# HELP agentq_queue_paused 1 while the whole queue is paused.",
        "# TYPE agentq_queue_paused gauge",
        f"agentq_queue_paused {int(stats.paused)}",
        "# HELP agentq_completed_last_hour Tasks completed in the last hour.",
        "# TYPE agentq_completed_last_hour gauge",
        f"agentq_completed_last_hour {stats.throughput_last_hour}",
    ]
    if stats.avg_run_s is not None:
        out += [
            "# HELP agentq_avg_run_seconds Average run time of tasks finished in the last hour.",
            "# TYPE agentq_avg_run_seconds gauge",
            f"agentq_avg_run_seconds {stats.avg_run_s:.3f}",
        ]
    return "\n".join(out) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _indent(text: str, spaces: int = 2) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def id_ranges(ids: Sequence[int], most: int = 5) -> str:
    """1, 2, 3, 7 -> '1–3, 7' (at most `most` runs, then '…')."""
    runs: list[list[int]] = []
    for number in ids:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    parts = [str(a) if a == b else f"{a}–{b}" for a, b in runs[:most]]
    return ", ".join(parts) + (", …" if len(runs) > most else "")
