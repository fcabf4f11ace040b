"""The HTTP API over real HTTP: a uvicorn server on 127.0.0.1, an httpx client, a SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from desktop.api.credentials import TokenStore
from desktop.api.limits import MAX_BODY_BYTES
from desktop.api.server import start_api
from desktop.errors import TaskValidationError
from desktop.queue import TaskQueueService, TaskStatus
from tests.api.conftest import SETTINGS, Api
from tests.waiting import wait_until


def _settle(queue: TaskQueueService, *, succeed: bool) -> int:
    task = queue.enqueue("echo", {"n": 1})
    claimed = queue.dequeue("test-worker")
    assert claimed is not None and claimed.id == task.id
    if succeed:
        queue.complete(claimed.id, claimed.token, {"ok": True})
    else:
        queue.fail(claimed.id, claimed.token, "boom", retryable=False)
    return task.id


# -- health and metrics ---------------------------------------------------------------------------


def test_health_needs_no_token_and_reports_counts_polling_and_workers(api: Api) -> None:
    _settle(api.service, succeed=True)
    _settle(api.service, succeed=False)
    response = api.anonymous.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["service"] == "agent-queue" and body["timestamp"]
    assert body["stats"] == {
        "tasksProcessed": 2, "tasksSucceeded": 1, "tasksFailed": 1, "successRate": 0.5,
        "lastProcessedAt": body["stats"]["lastProcessedAt"],
    }
    assert body["stats"]["lastProcessedAt"].startswith("20")
    assert body["polling"]["enabled"] is False and body["polling"]["intervalMs"] == 50
    assert body["polling"]["maxTasksPerPoll"] == 1 and body["workers"] == []


@pytest.mark.parametrize("damage", ["removed", "replaced by a file that is not a database"])
def test_health_is_503_unhealthy_when_the_database_does_not_answer(api: Api, db_path: Path, damage: str) -> None:
    assert api.anonymous.get("/health").status_code == 200
    for path in db_path.parent.glob(db_path.name + "*"):  # with its -wal and -shm
        path.unlink()
    if damage != "removed":
        db_path.write_bytes(b"this is not a database" * 1000)
    response = api.anonymous.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy" and body["reason"].startswith("the database")
    assert "stats" not in body and str(db_path) not in response.text  # no paths to anonymous callers


def test_metrics_are_prometheus_text_behind_the_token(api: Api) -> None:
    _settle(api.service, succeed=True)
    costly = api.service.enqueue("echo")
    claimed = api.service.dequeue("test-worker")
    assert claimed is not None and claimed.id == costly.id
    api.service.complete(claimed.id, claimed.token, details={"cost_usd": 0.125})
    assert api.anonymous.get("/metrics").status_code == 401
    response = api.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert 'agentq_tasks{agent="echo",status="completed"} 2' in response.text
    assert 'agentq_cost_usd_total{agent="echo"} 0.125000' in response.text


def test_counters_never_fall_after_agentq_cleanup(api: Api, cli_env: dict[str, str]) -> None:
    flaky = api.service.enqueue("echo", {"n": 1}, max_retries=1, retry_base_s=0)
    for fail in (True, False):  # fails once, then its retry succeeds
        claimed = api.service.dequeue("test-worker")
        assert claimed is not None and claimed.id == flaky.id
        if fail:
            api.service.fail(claimed.id, claimed.token, "flaky")
        else:
            api.service.complete(claimed.id, claimed.token, {"ok": True})
    _settle(api.service, succeed=False)

    def counters() -> tuple[dict[str, object], list[str]]:
        stats = api.anonymous.get("/health").json()["stats"]
        lines = [line for line in api.client.get("/metrics").text.splitlines() if line.startswith("agentq_attempts")]
        return stats, lines

    before = counters()
    assert {k: before[0][k] for k in ("tasksProcessed", "tasksSucceeded", "tasksFailed")} == {
        "tasksProcessed": 3, "tasksSucceeded": 1, "tasksFailed": 2,  # the retried failure counts
    }
    assert before[1] == [
        'agentq_attempts_total{agent="echo",outcome="completed"} 1',
        'agentq_attempts_total{agent="echo",outcome="failed"} 2',
    ]
    cleaned = subprocess.run(
        [sys.executable, "-m", "desktop", "cleanup", "--older-than", "0s"], env=cli_env, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert cleaned.returncode == 0, cleaned.stderr
    assert api.service.list_tasks() == []
    assert counters() == before


# -- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, method", [("/tasks", "GET"), ("/tasks", "POST"), ("/tasks/1", "GET"), ("/tasks/1/retry", "POST"),
                     ("/tasks/1/cancel", "POST"), ("/trigger-poll", "POST"), ("/pause", "POST"), ("/resume", "POST")]
)
def test_every_endpoint_but_health_refuses_a_missing_or_wrong_token(api: Api, path: str, method: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {api.token}"}):
        response = api.anonymous.request(method, path, headers=headers, json={"agent": "echo"})
        assert response.status_code == 401, (path, headers)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "bearer token" in response.json()["detail"]
    assert api.service.count_tasks() == 0 and not api.service.is_paused()


def test_the_token_file_is_private_and_a_rotated_token_replaces_the_old_one_at_once(api: Api) -> None:
    store = TokenStore()
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.path.parent.stat().st_mode & 0o777 == 0o700
    assert api.client.get("/tasks").status_code == 200
    new = TokenStore().rotate()  # as `agentq token --rotate` does from another process
    assert api.client.get("/tasks").status_code == 401
    assert api.anonymous.get("/tasks", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_docs_are_served_to_this_machine(api: Api) -> None:
    assert "swagger" in api.anonymous.get("/docs").text.lower()
    schema = api.anonymous.get("/openapi.json").json()
    assert {"/health", "/tasks", "/tasks/{task_id}/retry", "/hooks/{name}"} <= set(schema["paths"])
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


# -- input rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, body, field",
    [
        ("POST", "/tasks", {"agent": "echo", "priority": 9}, "priority"),
        ("POST", "/tasks", {"agent": "nobody"}, "agent"),
        ("POST", "/tasks", {"agent": "echo", "colour": "red"}, "colour"),
        ("POST", "/tasks", {"payload": 1}, "agent"),
        ("POST", "/tasks", "just a string", "body"),
        ("POST", "/tasks", [{"agent": "echo"}, {"agent": "echo", "priority": 0}], "items[1].priority"),
        ("GET", "/tasks?status=bogus", None, "status"),
        ("GET", "/tasks?status=pending,bogus", None, "status"),
        ("GET", "/tasks?limit=0", None, "limit"),
        ("GET", "/tasks?limit=many", None, "limit"),
        ("GET", "/tasks/0", None, "task_id"),
        ("GET", f"/tasks/{10**30}", None, "task_id"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_the_rule_and_writes_nothing(
    api: Api, method: str, path: str, body: object, field: str
) -> None:
    response = api.client.request(method, path, json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["field"] == field and error["rule"] and field in error["detail"]
    assert api.service.count_tasks() == 0


ISSUE_14_HTTP: list[tuple[str, str, str, bytes, str]] = [
    ("payload-nested-10000", "POST", "/tasks", b'{"agent": "echo", "payload": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
     "body"),
    ("payload-lone-surrogate", "POST", "/tasks", b'{"agent": "echo", "payload": "\\ud800"}', "payload"),
    ("max-retries-10e20", "POST", "/tasks", b'{"agent": "echo", "max_retries": 100000000000000000000}', "max_retries"),
    ("retry-base-1e308", "POST", "/tasks", b'{"agent": "echo", "retry_base_s": 1e308}', "retry_base_s"),
    ("at-9999-minus-12", "POST", "/tasks", b'{"agent": "echo", "scheduled_for": "9999-12-31T23:00:00-12:00"}',
     "scheduled_for"),
    ("at-year-1-plus-5", "POST", "/tasks", b'{"agent": "echo", "scheduled_for": "0001-01-01T00:30:00+05:00"}',
     "scheduled_for"),
    ("lock-key-newline", "POST", "/tasks", b'{"agent": "echo", "lock_key": "a\\nb"}', "lock_key"),
    ("lock-key-nul", "POST", "/tasks", b'{"agent": "echo", "lock_key": "a\\u0000b"}', "lock_key"),
    ("retry-10e30", "POST", f"/tasks/{10**30}/retry", b"", "task_id"),
    ("cancel-10e30", "POST", f"/tasks/{10**30}/cancel", b"", "task_id"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"), [c[1:] for c in ISSUE_14_HTTP], ids=[c[0] for c in ISSUE_14_HTTP]
)
def test_issue_14_bad_input_over_http_is_422_naming_the_field_and_writes_nothing(
    api: Api, method: str, path: str, body: bytes, field: str
) -> None:
    response = api.client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.text
    assert api.service.count_tasks() == 0


def test_a_body_that_is_not_json_is_422(api: Api) -> None:
    response = api.client.post("/tasks", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["field"] == "body"


def test_bodies_over_the_cap_are_413_declared_or_streamed(api: Api) -> None:
    big = b"[" + b" " * MAX_BODY_BYTES + b"]"
    assert api.client.post("/tasks", content=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for _ in range(MAX_BODY_BYTES // 65_536 + 2):
            yield b" " * 65_536

    response = api.client.post("/tasks", content=chunks())
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    assert api.service.count_tasks() == 0
    assert api.client.get("/tasks").status_code == 200  # the server goes on


# -- tasks ----------------------------------------------------------------------------------------


def test_enqueue_one_then_the_same_unique_key_returns_the_first(api: Api) -> None:
    first = api.client.post("/tasks", json={"agent": "echo", "payload": {"n": 1}, "unique_key": "u1", "priority": 5})
    assert first.status_code == 201 and first.json()["created"] is True
    task = first.json()["task"]
    assert task["status"] == "pending" and task["priority"] == 5 and task["created_by"] == "api"
    assert "lease_token" not in task
    again = api.client.post("/tasks", json={"agent": "echo", "unique_key": "u1"})
    assert again.status_code == 200 and again.json() == {"task": task, "created": False}
    assert api.service.count_tasks() == 1


def test_enqueue_a_list_is_all_or_nothing(api: Api) -> None:
    bad = [{"agent": "echo"}, {"agent": "echo", "depends_on": [999]}]
    response = api.client.post("/tasks", json=bad)
    assert response.status_code == 422 and response.json()["field"] == "items[1].depends_on"
    assert api.service.count_tasks() == 0
    good = [{"agent": "echo", "payload": {"n": n}} for n in range(3)]
    response = api.client.post("/tasks", json=good)
    assert response.status_code == 201
    body = response.json()
    assert [t["payload"] for t in body["tasks"]] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert body["created"] == [t["id"] for t in body["tasks"]]


def test_list_filters_by_status_agent_and_limit(api: Api) -> None:
    api.service.add_agent("other", "echo")
    done = _settle(api.service, succeed=True)
    pending = [api.service.enqueue("echo").id for _ in range(3)]
    api.service.enqueue("other")
    listed = api.client.get("/tasks", params={"status": "pending", "agent": "echo", "limit": 2}).json()
    assert [t["id"] for t in listed] == sorted(pending, reverse=True)[:2]
    both = api.client.get("/tasks", params=[("status", "completed"), ("status", "pending"), ("agent", "echo")]).json()
    assert {t["id"] for t in both} == {done, *pending}


def test_get_shows_attempts_and_unknown_ids_are_404(api: Api) -> None:
    task_id = _settle(api.service, succeed=False)
    body = api.client.get(f"/tasks/{task_id}").json()
    assert body["task"]["status"] == "failed" and body["depends_on"] == []
    assert [(a["number"], a["outcome"], a["error"]) for a in body["attempts"]] == [(1, "failed", "boom")]
    assert body["waiting"] is None  # finished: nothing holds it
    api.service.pause("echo")
    waiting = api.client.get(f"/tasks/{api.service.enqueue('echo').id}").json()
    assert waiting["waiting"] == "agent echo is paused"
    missing = api.client.get("/tasks/999")
    assert missing.status_code == 404 and missing.json()["detail"] == "task 999 does not exist"


def test_cancel_then_retry_with_an_edited_payload(api: Api) -> None:
    task = api.service.enqueue("echo", {"prompt": "old"})
    cancelled = api.client.post(f"/tasks/{task.id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.client.post(f"/tasks/{task.id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    retried = api.client.post(f"/tasks/{task.id}/retry", json={"payload": {"prompt": "new"}})
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    assert api.service.get(task.id).payload == {"prompt": "new"}
    wrong = api.client.post(f"/tasks/{task.id}/retry")
    assert wrong.status_code == 409 and "only failed, cancelled or retrying" in wrong.json()["detail"]
    assert api.client.post(f"/tasks/{task.id}/retry", json={"colour": 1}).json()["field"] == "body"


def test_retry_without_a_body_keeps_the_payload(api: Api) -> None:
    task_id = _settle(api.service, succeed=False)
    response = api.client.post(f"/tasks/{task_id}/retry")
    assert response.status_code == 200 and response.json()["payload"] == {"n": 1}


def test_pause_and_resume_the_queue_or_one_agent(api: Api) -> None:
    assert api.client.post("/pause").json() == {"paused": True, "agent": None}
    assert api.service.is_paused()
    assert api.client.post("/resume").json() == {"paused": False, "agent": None}
    assert not api.service.is_paused()
    assert api.client.post("/pause", params={"agent": "echo"}).status_code == 200
    assert api.service.is_paused("echo") and not api.service.is_paused()
    api.client.post("/resume", params={"agent": "echo"})
    assert not api.service.is_paused("echo")
    assert api.client.post("/pause", params={"agent": "nobody"}).status_code == 404


def test_trigger_poll_without_a_pool_in_this_server_is_409(api: Api) -> None:
    response = api.client.post("/trigger-poll")
    assert response.status_code == 409 and "--no-worker" in response.json()["detail"]


def test_a_slow_write_does_not_block_other_requests(api: Api, db_path: Path) -> None:
    """Another process holds the write lock: an enqueue waits for it, and /health still answers."""
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    result: dict[str, httpx.Response] = {}
    writer = threading.Thread(target=lambda: result.update(r=api.client.post("/tasks", json={"agent": "echo"})))
    writer.start()
    try:
        wait_until(lambda: api.requests_in_progress() == 1, 10, "the enqueue reached the server")
        for _ in range(5):
            assert api.anonymous.get("/health", timeout=5).status_code == 200
        assert writer.is_alive() and not result, "the enqueue should still be waiting on the lock"
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    writer.join(30)
    assert result["r"].status_code == 201


# -- CORS -----------------------------------------------------------------------------------------


def test_no_cors_unless_an_origin_is_configured(start_server: Callable[..., Api]) -> None:
    plain = start_server()
    headers = {"Origin": "https://app.example"}
    assert "access-control-allow-origin" not in plain.client.get("/tasks", headers=headers).headers
    allowed = start_server(cors_origins=["https://app.example"])
    response = allowed.client.get("/tasks", headers=headers)
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    other = allowed.client.get("/tasks", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_statuses_listed_in_the_rule_are_the_real_ones(api: Api) -> None:
    rule = api.client.get("/tasks?status=bogus").json()["rule"]
    assert all(s.value in rule for s in TaskStatus)


def test_the_in_loop_server_refuses_a_remote_address_unless_allowed(queue: TaskQueueService) -> None:
    with pytest.raises(TaskValidationError) as error:
        asyncio.run(start_api(queue, SETTINGS, host="0.0.0.0", port=0))
    assert error.value.field == "host" and "--allow-remote" in error.value.rule
