"""The agent that delivers completion webhooks is made when a task that needs it is enqueued, so
settling a task never writes agents."""

from __future__ import annotations

import logging

import pytest

from desktop.queue import TaskQueueService, TaskStatus
from desktop.queue.service import NOTIFY_AGENT
from tests.queue.helpers import claim


def test_no_webhook_no_notify_agent(service: TaskQueueService) -> None:
    service.add_agent("echo", "echo")
    task = service.enqueue("echo")
    service.complete(task.id, claim(service, task.id).token)
    assert [a.name for a in service.list_agents()] == ["echo"]


def test_a_task_with_a_webhook_brings_its_notify_agent_at_enqueue(service: TaskQueueService) -> None:
    service.add_agent("echo", "echo")
    service.add_agent("hooked", "echo", notify_url="http://127.0.0.1:9/hook")
    own = service.enqueue("echo", notify_url="http://127.0.0.1:9/own")
    assert {a.name for a in service.list_agents()} == {"echo", "hooked", NOTIFY_AGENT}
    inherited = service.enqueue("hooked")
    assert inherited.notify_url == "http://127.0.0.1:9/hook"
    service.pause(NOTIFY_AGENT)  # deliveries wait: no network here
    for task in (own, inherited):
        service.complete(task.id, claim(service, task.id).token)
    deliveries = service.list_tasks(agent=NOTIFY_AGENT)
    assert sorted(d.payload["url"] for d in deliveries) == ["http://127.0.0.1:9/hook", "http://127.0.0.1:9/own"]


def test_settling_never_recreates_a_removed_notify_agent(
    service: TaskQueueService, caplog: pytest.LogCaptureFixture
) -> None:
    service.add_agent("echo", "echo")
    task = service.enqueue("echo", notify_url="http://127.0.0.1:9/hook")
    lease = claim(service, task.id)
    service.remove_agent(NOTIFY_AGENT)

    with caplog.at_level(logging.ERROR):
        done = service.complete(task.id, lease.token)

    assert done.status is TaskStatus.COMPLETED
    assert NOTIFY_AGENT not in {a.name for a in service.list_agents()}
    assert "webhook cannot be queued" in caplog.text
