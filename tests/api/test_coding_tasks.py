"""Coding tasks over HTTP: the body takes `repo` and `follow_up_of` (from the one task-field table), and
the kind's payload rules apply as they do for the CLI: an empty prompt is 422 naming payload.prompt."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.api.conftest import Api


def git_repo(path: Path) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    identity = ["-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(path), *identity, "commit", "-q", "--allow-empty", "-m", "initial"], check=True)
    return path


def test_a_coding_task_over_http_names_its_repository_and_bad_ones_are_422_by_field(api: Api, tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "app")
    api.service.add_repo("app", source=str(repo), local_path=str(repo))
    api.service.add_agent("coder", "claude", {"cli": "claude"})
    made = api.client.post("/tasks", json={"agent": "coder", "payload": {"prompt": "Fix it"}, "repo": "app"})
    assert made.status_code == 201, made.text
    task = made.json()["task"]
    assert task["repo"] == "app" and task["lock_key"] == f"path:{repo.resolve()}"
    follow = api.client.post("/tasks", json={"agent": "coder", "payload": {"prompt": "More"}, "follow_up_of": task["id"]})
    assert follow.status_code == 201, follow.text
    for body, field in (
        ({"agent": "coder", "payload": {"prompt": " "}, "repo": "app"}, "payload.prompt"),
        ({"agent": "coder", "payload": {"prompt": "x"}, "repo": "elsewhere"}, "repo"),
        ([{"agent": "echo"}, {"agent": "coder", "payload": {}, "repo": "app"}], "items[1].payload.prompt"),
    ):
        refused = api.client.post("/tasks", json=body)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    assert api.service.count_tasks() == 2
    schema = api.client.get("/openapi.json").json()
    body = schema["paths"]["/tasks"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]
    assert {"repo", "follow_up_of"} <= set(body["properties"])


def test_a_retry_with_an_edited_payload_follows_the_kinds_rules_and_changes_nothing_when_refused(
    api: Api, tmp_path: Path
) -> None:
    repo = git_repo(tmp_path / "app")
    api.service.add_repo("app", source=str(repo), local_path=str(repo))
    api.service.add_agent("coder", "claude", {"cli": "claude"})
    task = api.service.enqueue("coder", {"prompt": "Fix it"}, repo="app")
    api.service.cancel(task.id)

    refused = api.client.post(f"/tasks/{task.id}/retry", json={"payload": {"prompt": ""}})
    assert refused.status_code == 422 and refused.json()["field"] == "payload.prompt", refused.text
    kept = api.service.get(task.id)
    assert kept.status.value == "cancelled" and kept.payload == {"prompt": "Fix it"}
    retried = api.client.post(f"/tasks/{task.id}/retry", json={"payload": {"prompt": "Fix it better"}})
    assert retried.status_code == 200 and retried.json()["payload"] == {"prompt": "Fix it better"}
