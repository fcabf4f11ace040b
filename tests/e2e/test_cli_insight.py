"""`agentq list`, `show` and `stats` say why tasks wait and count every attempt, in real processes."""

from __future__ import annotations

import json

from tests.e2e.conftest import agentq


def test_list_and_show_say_why_tasks_wait(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "slow", "echo", "--concurrency", "1")
    first = json.loads(agentq(env, "enqueue", "slow", "--json").stdout)[0]["id"]
    child = json.loads(agentq(env, "enqueue", "slow", "--depends-on", str(first), "--json").stdout)[0]["id"]
    agentq(env, "agents", "pause", "slow")
    listing = agentq(env, "list").stdout.splitlines()
    assert listing[0].split()[:8] == ["ID", "STATUS", "PRI", "AGENT", "TRIES", "SCHEDULED", "FINISHED", "WAITING"]
    assert "agent slow is paused" in next(line for line in listing if line.startswith(str(first)))
    assert f"waiting for task #{first} (pending)" in next(line for line in listing if line.startswith(str(child)))
    shown = agentq(env, "show", str(child)).stdout
    assert f"  waiting    waiting for task #{first} (pending); agent slow is paused" in shown
    assert json.loads(agentq(env, "show", str(first), "--json").stdout)["waiting"] == "agent slow is paused"
    listed = {t["id"]: t for t in json.loads(agentq(env, "list", "--json").stdout)}
    assert listed[first]["waiting"] == "agent slow is paused" and listed[first]["status"] == "pending"
    assert listed[child]["waiting"] == f"waiting for task #{first} (pending); agent slow is paused"


def test_stats_count_each_attempt_and_keep_them_after_cleanup(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "flaky", "fail", "--max-retries", "1")
    agentq(env, "enqueue", "flaky")
    agentq(env, "worker", "--burst")
    before = agentq(env, "stats").stdout
    line = "Attempts (all time, kept through cleanup): 2 processed, 0 succeeded, 2 failed, success 0.0%"
    assert line in before
    agentq(env, "cleanup", "--older-than", "0s")
    after = agentq(env, "stats").stdout
    assert line in after and "failed     0" in after  # the task is gone; its attempts stay counted
