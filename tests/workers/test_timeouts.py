"""Timeouts that fit the work: task, then agent, then the agent's config, then the kind's own default,
then the profile's; a real pool lets a command whose config says 600 s outlive the profile's 1 s."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from desktop.agents.coding import PRESETS, CodingAgentKind
from desktop.agents.command import CommandKind
from desktop.agents.timeouts import attempt_timeout, seconds_text
from desktop.queue import TaskQueueService, TaskStatus
from desktop.workers.pool import WorkerPool

CLAUDE = CodingAgentKind(PRESETS["claude"])


@pytest.mark.parametrize(
    ("task", "agent", "config", "kind", "expected"),
    [
        (5.0, 7.0, {"timeout_s": 600}, CLAUDE, (5.0, "the task")),
        (None, 7.0, {"timeout_s": 600}, CLAUDE, (7.0, "the agent")),
        (None, None, {"timeout_s": 600}, CLAUDE, (600.0, "the agent's config (timeout_s)")),
        (None, None, {}, CLAUDE, (7200.0, "the claude preset's default")),
        (None, None, {"argv": ["true"]}, CommandKind(), (1.0, "the test profile's default")),
        (None, None, {"timeout_s": "soon"}, None, (1.0, "the test profile's default")),  # kind not installed
    ],
)
def test_the_timeout_comes_from_the_first_that_sets_one(
    task: float | None, agent: float | None, config: dict[str, object], kind: object, expected: tuple[float, str]
) -> None:
    timeout = attempt_timeout(
        task_timeout_s=task, agent_timeout_s=agent, config=config, kind=kind, profile_timeout_s=1.0, profile="test"
    )
    assert (timeout.seconds, timeout.source) == expected


def test_a_timeout_reads_as_people_say_it() -> None:
    assert [seconds_text(s) for s in (1.5, 90, 600, 7200, 5400)] == ["1.5 s", "90 s", "10 min", "2 h", "1 h 30 min"]
    assert attempt_timeout(
        task_timeout_s=None, agent_timeout_s=None, config={}, kind=CLAUDE, profile_timeout_s=30, profile="development"
    ).describe() == "2 h (from the claude preset's default)"


def test_a_command_whose_config_says_600_s_outlives_the_profiles_default(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("long", "command", {"argv": ["sleep", "2"], "timeout_s": 600})
    queue.add_agent("short", "command", {"argv": ["sleep", "2"]})
    long_task, short_task = queue.enqueue("long"), queue.enqueue("short")
    pool = make_pool(timeout_s=1.0, concurrency=2)  # the profile's default: 1 s
    pool.start()
    done = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.RETRYING)
    qtbot.waitUntil(lambda: all(queue.get(t.id).status in done for t in (long_task, short_task)), timeout=20_000)
    assert queue.get(long_task.id).status is TaskStatus.COMPLETED
    [attempt] = queue.attempts(long_task.id)
    assert attempt.outcome == "completed" and attempt.duration_ms is not None and attempt.duration_ms >= 2000
    assert "timed out after 1 s" in (queue.attempts(short_task.id)[0].error or "")
