"""Queue operations over real HTTP: run now, priority, move, backlog and release, retry by filter
or with an edited payload, backpressure (429) and the worker roster in /health and /workers."""

from __future__ import annotations

from desktop.queue import Beat
from tests.api.conftest import Api


def test_process_runs_a_task_next_and_priority_and_move_change_the_order(api: Api) -> None:
    ids = [api.client.post("/tasks", json={"agent": "echo", "priority": p}).json()["task"]["id"] for p in (5, 1, 3, 3)]
    first, low, a, b = ids

    processed = api.client.post(f"/tasks/{low}/process")
    assert processed.status_code == 200 and processed.json()["priority"] == 5
    assert api.client.post(f"/tasks/{b}/move", json={"position": "top"}).json()["sort_order"] < 0
    assert api.client.post(f"/tasks/{first}/priority", json={"priority": 2}).json()["priority"] == 2

    assert [t.id for t in api.service.peek(10)] == [low, b, a, first]
    bad = api.client.post(f"/tasks/{a}/move", json={"position": "middle"})
    assert bad.status_code == 422 and bad.json()["field"] == "position"
    bad = api.client.post(f"/tasks/{a}/priority", json={"priority": 0})
    assert bad.status_code == 422 and bad.json()["field"] == "priority"
    assert api.client.post("/tasks/999/process").status_code == 404
    assert api.anonymous.post(f"/tasks/{a}/process").status_code == 401


def test_backlog_and_release_over_http(api: Api) -> None:
    created = api.client.post("/tasks", json={"agent": "echo", "backlog": True}).json()["task"]
    assert created["status"] == "backlogged"
    assert api.service.dequeue("w1") is None
    refused = api.client.post(f"/tasks/{created['id']}/backlog")
    assert refused.status_code == 409 and "already backlogged" in refused.json()["detail"]
    assert api.client.post(f"/tasks/{created['id']}/release").json()["status"] == "pending"
    other = api.client.post("/tasks", json={"agent": "echo"}).json()["task"]
    assert api.client.post(f"/tasks/{other['id']}/backlog").json()["status"] == "backlogged"
    listed = api.client.get("/tasks", params={"status": "backlogged"}).json()
    assert [t["id"] for t in listed] == [other["id"]]
    bad = api.client.post("/tasks", json={"agent": "echo", "backlog": "yes"})
    assert bad.status_code == 422 and bad.json()["field"] == "backlog"


def test_retry_every_failed_task_of_an_agent_and_one_with_an_edited_payload(api: Api) -> None:
    svc = api.service
    svc.add_agent("other", "echo")
    failed = []
    for agent in ("echo", "echo", "other"):
        task = svc.enqueue(agent, {"n": 1}, max_retries=0)
        claim = svc.dequeue("w1")
        assert claim is not None
        svc.fail(claim.id, claim.token, "boom")
        failed.append(task.id)

    body = api.client.post("/tasks/retry", json={"status": ["failed"], "agent": "echo"}).json()
    assert [t["id"] for t in body["retried"]] == failed[:2] and body["refused"] == []
    edited = api.client.post(f"/tasks/{failed[2]}/retry", json={"payload": {"n": 2}}).json()
    assert edited["status"] == "pending" and edited["payload"] == {"n": 2}
    bad = api.client.post("/tasks/retry", json={"status": "completed"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"


def test_an_enqueue_past_max_pending_is_429_naming_the_limit_and_writes_nothing(api: Api) -> None:
    api.service.update_agent("echo", max_pending=1)
    assert api.client.post("/tasks", json={"agent": "echo"}).status_code == 201
    full = api.client.post("/tasks", json={"agent": "echo"})
    assert full.status_code == 429
    assert full.json()["field"] == "agent" and "limit of 1 waiting tasks (max_pending)" in full.json()["detail"]
    many = api.client.post("/tasks", json=[{"agent": "echo"}, {"agent": "echo"}])
    assert many.status_code == 429 and many.json()["field"] == "items[0].agent"
    assert api.service.count_tasks(agent="echo") == 1


def test_health_and_workers_list_the_roster(api: Api) -> None:
    api.service.worker_beat(Beat("w-a", "host-a", 4242, 3, lease_s=30.0, running=1, completed=5, failed=2))
    [worker] = api.anonymous.get("/health").json()["workers"]
    assert worker["id"] == "w-a" and worker["state"] == "live" and worker["pid"] == 4242
    assert (worker["concurrency"], worker["running"], worker["completed"], worker["failed"]) == (3, 1, 5, 2)
    assert api.client.get("/workers").json() == [worker]
    assert api.anonymous.get("/workers").status_code == 401
    api.service.worker_stopped("w-a")
    assert api.client.get("/workers").json()[0]["state"] == "stopped"
