"""Daily budgets and the ledger, on attempts that report cost and tokens (an injected clock moves the
day); and a real `agentq worker` whose agent spends its budget and is paused, with the reason shown."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from pools import FAKE_CLAUDE

from desktop.queue import RetryPolicy, TaskQueueService
from desktop.queue.budgets import local_midnight
from desktop.workspaces.registration import register_repo
from desktop.workspaces.task_runs import clones_dir
from tests.conftest import FakeClock

NOON = time.mktime((2027, 3, 10, 12, 0, 0, 0, 0, -1))  # local time


@pytest.fixture
def ledger_queue(db_url: str) -> TaskQueueService:
    return TaskQueueService.open(db_url, clock=FakeClock(NOON), retry_policy=RetryPolicy(jitter=0.0))


def spend(queue: TaskQueueService, agent: str, cost: float, *, repo: str | None = None, tokens: int = 100) -> None:
    """One attempt of `agent` that reports `cost` (and tokens), finished at the queue's now."""
    task = queue.enqueue(agent, repo=repo)
    claim = queue.dequeue("w", agents=[agent])
    assert claim is not None and claim.id == task.id
    queue.complete(claim.id, claim.token, details={"cost_usd": cost, "input_tokens": tokens, "output_tokens": tokens // 10})


def test_an_agent_that_spent_its_daily_budget_is_paused_with_the_reason_until_local_midnight(
    ledger_queue: TaskQueueService,
) -> None:
    queue, clock = ledger_queue, ledger_queue.clock
    queue.add_agent("coder", "echo", daily_budget_usd=1.0)
    queue.add_agent("other", "echo", daily_budget_usd=1.0)
    spend(queue, "coder", 0.6)
    spend(queue, "other", 0.3)
    assert queue.enforce_budgets() == [] and not queue.get_agent("coder").paused
    spend(queue, "coder", 0.5)
    assert queue.enforce_budgets() == ["coder"]
    coder = queue.get_agent("coder")
    midnight = local_midnight(NOON, 1)
    assert coder.paused and coder.paused_until is not None and coder.paused_until.timestamp() == midnight
    assert coder.pause_reason == (
        f"daily budget of $1.00 reached ($1.10 spent today); resumes at "
        f"{datetime.fromtimestamp(midnight).strftime('%Y-%m-%d %H:%M')}"
    )
    waiting = queue.enqueue("coder")
    assert queue.dequeue("w", agents=["coder"]) is None and not queue.get_agent("other").paused
    assert queue.enforce_budgets() == []  # still today: nothing changes
    clock.now = midnight + 1  # type: ignore[attr-defined]
    assert queue.enforce_budgets() == []
    coder = queue.get_agent("coder")
    assert not coder.paused and coder.pause_reason is None and coder.paused_until is None
    claim = queue.dequeue("w", agents=["coder"])
    assert claim is not None and claim.id == waiting.id


def test_a_users_pause_is_never_lifted_and_a_manual_resume_clears_the_reason(ledger_queue: TaskQueueService) -> None:
    queue = ledger_queue
    queue.add_agent("coder", "echo", daily_budget_usd=0.5)
    spend(queue, "coder", 0.5)
    queue.pause("coder")  # the user's own: no reason, no end
    assert queue.enforce_budgets() == [] and queue.get_agent("coder").pause_reason is None
    queue.resume("coder")
    assert queue.enforce_budgets() == ["coder"] and queue.get_agent("coder").pause_reason
    queue.resume("coder")  # by hand: lifted, and the reason with it
    assert queue.get_agent("coder").pause_reason is None and not queue.get_agent("coder").paused


def test_the_ledger_sums_cost_and_tokens_per_agent_repository_and_local_day(
    ledger_queue: TaskQueueService, repo: Path
) -> None:
    queue, clock = ledger_queue, ledger_queue.clock
    register_repo(queue, str(repo), clones_dir())
    queue.add_agent("coder", "echo")
    queue.add_agent("cheap", "echo")
    queue.add_agent("plain", "echo")
    spend(queue, "coder", 0.25, repo="repo", tokens=1000)
    spend(queue, "cheap", 0.05, tokens=10)
    clock.now = NOON + 86_400  # type: ignore[attr-defined]
    spend(queue, "coder", 0.5, repo="repo", tokens=2000)
    plain = queue.enqueue("plain")
    claim = queue.dequeue("w", agents=["plain"])
    assert claim is not None and claim.id == plain.id
    queue.complete(claim.id, claim.token)  # reports nothing: not in the ledger
    ledger = queue.ledger(days=7)
    assert [(line.key, line.attempts, line.cost_usd, line.input_tokens, line.output_tokens) for line in ledger.by_agent] == [
        ("cheap", 1, 0.05, 10, 1), ("coder", 2, 0.75, 3000, 300)
    ]
    assert [(line.key, line.cost_usd) for line in ledger.by_repo] == [("repo", 0.75)]
    day = date.fromtimestamp(NOON)
    assert [(line.key, line.attempts) for line in ledger.by_day] == [
        (day.isoformat(), 2), (date.fromtimestamp(NOON + 86_400).isoformat(), 1)
    ]
    assert [line.key for line in queue.ledger(days=1).by_day] == [date.fromtimestamp(NOON + 86_400).isoformat()]


def agentq(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "desktop", *args], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result


def test_a_worker_pauses_an_agent_that_spent_its_budget_and_says_why(
    cli_env: dict[str, str], repo: Path
) -> None:
    agentq(cli_env, "repos", "add", str(repo))
    agentq(cli_env, "agents", "add", "coder", "claude", "--cli", FAKE_CLAUDE[1], "--daily-budget-usd", "0.01")
    agentq(cli_env, "enqueue", "coder", "--repo", "repo", "--prompt", "first")
    agentq(cli_env, "worker", "--burst")  # the fake reports $0.0123 per run: over the budget
    listed = agentq(cli_env, "agents", "list").stdout
    assert "paused: daily budget of $0.01 reached ($0.01 spent today); resumes at" in listed
    agentq(cli_env, "enqueue", "coder", "--repo", "repo", "--prompt", "second")
    agentq(cli_env, "worker", "--burst")  # nothing it may run
    shown = json.loads(agentq(cli_env, "show", "2", "--json").stdout)
    assert shown["task"]["status"] == "pending"
    assert shown["waiting"].startswith("agent coder is paused: daily budget of $0.01 reached")
    assert "waiting    agent coder is paused: daily budget" in agentq(cli_env, "show", "2").stdout
    stats = json.loads(agentq(cli_env, "stats", "--json").stdout)
    assert [(line["key"], line["cost_usd"]) for line in stats["ledger"]["by_agent"]] == [("coder", 0.0123)]
    assert "Cost and tokens" in agentq(cli_env, "stats").stdout
