"""Inbound webhooks over real HTTP: templates into tasks, GitHub signatures, and the hooks table."""

from __future__ import annotations

import json

import httpx
import pytest

from desktop.api.credentials import HookSecrets
from desktop.api.webhooks import signature
from desktop.errors import NotFoundError, TaskValidationError
from desktop.queue import TaskQueueService, hooks
from tests.api.conftest import Api

ISSUE = {"action": "opened", "issue": {"title": "Fix the login", "labels": [{"name": "bug"}]},
         "repository": {"clone_url": "https://github.com/me/app.git"}}
FIELDS = {"prompt": "issue.title", "repo": "repository.clone_url", "label": "issue.labels.0.name"}


def _signed_hook(queue: TaskQueueService) -> str:
    hooks.add_hook(queue.engine, "gh", "echo", priority=4, fields=FIELDS, payload={"mode": "fix"},
                   secret_source=hooks.SECRET_FILE)
    return HookSecrets().generate("gh")


def _post(api: Api, name: str, body: bytes, **headers: str) -> httpx.Response:
    return api.anonymous.post(f"/hooks/{name}", content=body, headers={"Content-Type": "application/json", **headers})


def test_a_signed_webhook_becomes_a_task_through_its_template(api: Api) -> None:
    secret = _signed_hook(api.service)
    body = json.dumps(ISSUE).encode()
    response = _post(api, "gh", body, **{"X-Hub-Signature-256": signature(secret, body), "X-GitHub-Event": "issues"})
    assert response.status_code == 201, response.text
    task = api.service.get(response.json()["task"]["id"])
    assert task.agent == "echo" and task.priority == 4 and task.created_by == "hook:gh"
    assert task.payload == {"mode": "fix", "prompt": "Fix the login", "repo": "https://github.com/me/app.git",
                            "label": "bug"}


@pytest.mark.parametrize("header", [None, "sha256=" + "0" * 64, "sha1=abc", "garbage"])
def test_a_missing_or_bad_signature_is_401_and_enqueues_nothing(api: Api, header: str | None) -> None:
    _signed_hook(api.service)
    body = json.dumps(ISSUE).encode()
    headers = {} if header is None else {"X-Hub-Signature-256": header}
    response = _post(api, "gh", body, **headers)
    assert response.status_code == 401 and "X-Hub-Signature-256" in response.json()["detail"]
    assert api.service.count_tasks() == 0


def test_a_signature_over_another_body_is_refused(api: Api) -> None:
    secret = _signed_hook(api.service)
    signed = json.dumps(ISSUE).encode()
    tampered = signed.replace(b"Fix the login", b"rm -rf ~")
    assert _post(api, "gh", tampered, **{"X-Hub-Signature-256": signature(secret, signed)}).status_code == 401
    assert api.service.count_tasks() == 0


def test_the_bearer_token_does_not_replace_a_hook_signature(api: Api) -> None:
    _signed_hook(api.service)
    response = api.client.post("/hooks/gh", json=ISSUE)
    assert response.status_code == 401


def test_a_hook_without_a_secret_needs_the_bearer_token(api: Api) -> None:
    hooks.add_hook(api.service.engine, "plain", "echo", fields={"prompt": "issue.title"})
    assert api.anonymous.post("/hooks/plain", json=ISSUE).status_code == 401
    assert api.anonymous.post("/hooks/plain", json=ISSUE, headers={"Authorization": "Bearer nope"}).status_code == 401
    response = api.client.post("/hooks/plain", json=ISSUE)
    assert response.status_code == 201 and response.json()["task"]["payload"] == {"prompt": "Fix the login"}


def test_a_secret_from_the_environment_and_a_missing_one(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    hooks.add_hook(api.service.engine, "env", "echo", fields={"prompt": "issue.title"}, secret_source="env:HOOK_S")
    body = json.dumps(ISSUE).encode()
    signed = {"X-Hub-Signature-256": signature("s3cret", body)}
    missing = _post(api, "env", body, **signed)
    assert missing.status_code == 503 and "HOOK_S" in missing.json()["detail"]  # refused, never accepted unsigned
    monkeypatch.setenv("HOOK_S", "s3cret")
    assert _post(api, "env", body, **signed).status_code == 201


def test_a_body_without_a_templated_path_is_422_naming_the_path(api: Api) -> None:
    secret = _signed_hook(api.service)
    body = json.dumps({"issue": {"title": "t", "labels": []}, "repository": {"clone_url": "u"}}).encode()
    response = _post(api, "gh", body, **{"X-Hub-Signature-256": signature(secret, body)})
    assert response.status_code == 422 and response.json()["field"] == "issue.labels.0.name"
    not_json = b"payload=%7B%7D"
    response = _post(api, "gh", not_json, **{"X-Hub-Signature-256": signature(secret, not_json)})
    assert response.status_code == 422 and response.json()["field"] == "body"
    assert api.service.count_tasks() == 0


def test_a_ping_is_answered_and_a_redelivery_enqueues_once(api: Api) -> None:
    secret = _signed_hook(api.service)
    ping = b'{"zen": "Keep it simple."}'
    response = _post(api, "gh", ping, **{"X-Hub-Signature-256": signature(secret, ping), "X-GitHub-Event": "ping"})
    assert response.status_code == 200 and response.json()["pong"] is True
    body = json.dumps(ISSUE).encode()
    headers = {"X-Hub-Signature-256": signature(secret, body), "X-GitHub-Delivery": "72d3162e-cc78-11e3"}
    first, second = _post(api, "gh", body, **headers), _post(api, "gh", body, **headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["task"]["id"] == second.json()["task"]["id"] and second.json()["created"] is False
    assert api.service.count_tasks() == 1


def test_a_hook_can_lock_on_the_repository_the_body_names(api: Api) -> None:
    hooks.add_hook(api.service.engine, "repo", "echo", fields={"prompt": "issue.title"},
                   repo_path="repository.clone_url")
    created = api.client.post("/hooks/repo", json=ISSUE)
    assert created.status_code == 201 and created.json()["task"]["lock_key"] == "repo:github.com/me/app"
    not_a_repo = api.client.post("/hooks/repo", json={**ISSUE, "repository": {"clone_url": 7}})
    assert not_a_repo.status_code == 422 and not_a_repo.json()["field"] == "repository.clone_url"
    assert api.service.count_tasks() == 1


def test_an_unknown_hook_is_404(api: Api) -> None:
    response = api.client.post("/hooks/nope", json={})
    assert response.status_code == 404 and "no hook named 'nope'" in response.json()["detail"]


# -- the hooks table ------------------------------------------------------------------------------


def test_hook_definitions_are_validated_and_nothing_is_written(queue: TaskQueueService) -> None:
    cases = [
        ({"name": "bad name", "agent": "echo"}, "name"),
        ({"name": "h", "agent": "nobody"}, "agent"),
        ({"name": "h", "agent": "echo", "priority": 7}, "priority"),
        ({"name": "h", "agent": "echo", "fields": {"prompt": "issue..title"}}, "fields.prompt"),
        ({"name": "h", "agent": "echo", "fields": {"k": "a"}, "payload": {"k": 1}}, "payload"),
        ({"name": "h", "agent": "echo", "payload": [1]}, "payload"),
        ({"name": "h", "agent": "echo", "secret_source": "env:1BAD"}, "secret"),
        ({"name": "h", "agent": "echo", "repo_path": "a b"}, "repo_path"),
    ]
    for arguments, field in cases:
        with pytest.raises(TaskValidationError) as error:
            hooks.add_hook(queue.engine, **arguments)  # type: ignore[arg-type]
        assert error.value.field == field, arguments
    assert hooks.list_hooks(queue.engine) == []
    hooks.add_hook(queue.engine, "h", "echo")
    with pytest.raises(TaskValidationError, match="already exists"):
        hooks.add_hook(queue.engine, "h", "echo")


def test_hooks_are_listed_read_and_removed(queue: TaskQueueService) -> None:
    added = hooks.add_hook(queue.engine, "b", "echo", fields={"x": "a.b"}, secret_source="env:SECRET_B")
    hooks.add_hook(queue.engine, "a", "echo")
    assert [h.name for h in hooks.list_hooks(queue.engine)] == ["a", "b"]
    assert hooks.get_hook(queue.engine, "b") == added and added.secret_env == "SECRET_B"
    hooks.remove_hook(queue.engine, "b")
    with pytest.raises(NotFoundError):
        hooks.get_hook(queue.engine, "b")
    with pytest.raises(NotFoundError):
        hooks.remove_hook(queue.engine, "b")
    with queue.engine.begin() as conn:  # a caller's own transaction
        hooks.add_hook(conn, "c", "echo")
    assert [h.name for h in hooks.list_hooks(queue.engine)] == ["a", "c"]


def test_generated_secrets_live_in_a_private_file(queue: TaskQueueService) -> None:
    stored = HookSecrets()
    secret = stored.generate("gh")
    assert len(secret) == 64 and stored.get("gh") == secret
    assert stored.path.stat().st_mode & 0o777 == 0o600 and stored.path.parent.stat().st_mode & 0o777 == 0o700
    stored.remove("gh")
    assert stored.get("gh") is None
