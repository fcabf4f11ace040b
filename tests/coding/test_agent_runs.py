"""Whole runs of the presets against the fake programs, as real subprocesses in real worktrees:
figures reported, files really changed, each failure class raised, cancel and timeout honoured."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import make_ctx, make_task, process_gone
from gitrepos import FAKES, git

from desktop.agents.base import PermanentError, TaskCancelled, TaskContext, TaskTimeout, UsageLimitReached
from desktop.agents.coding import (
    PRESETS,
    AgentRunFailed,
    AssistantText,
    CodingAgentKind,
    Result,
    ToolCall,
    read_transcript,
)
from desktop.workspaces import Workspace, create_worktree, summarize_changes
from tests.waiting import wait_until

NOW = 1_800_000_000.0


def fake(name: str) -> list[str]:
    return [sys.executable, str(FAKES / name)]


CLAUDE = {"cli": fake("fake_claude.py")}
CODEX = {"cli": fake("fake_codex.py")}


@pytest.fixture
def ws(repo: Path, worktrees_dir: Path) -> Workspace:
    return create_worktree(repo, 21, "Add the feature", worktrees_dir, "main")


@pytest.fixture
def agent_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "agent-runs.jsonl"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    return log


def kind(name: str, tmp_path: Path) -> CodingAgentKind:
    return CodingAgentKind(PRESETS[name], transcripts_dir=tmp_path / "transcripts", clock=lambda: NOW)


def run(
    name: str, tmp_path: Path, ws: Workspace, prompt: str, config: dict[str, Any], *,
    session_id: str | None = None, timeout_s: float | None = None,
) -> tuple[dict[str, Any], TaskContext]:
    payload: dict[str, Any] = {"prompt": prompt, "workdir": ws.path}
    if session_id:
        payload["session_id"] = session_id
    ctx = make_ctx(make_task(payload, task_id=21), timeout_s=timeout_s, log_path=tmp_path / "task.log")
    return kind(name, tmp_path).run(ctx.task, config, ctx), ctx


def runs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_claude_run_reports_session_cost_tokens_and_really_changes_the_worktree(
    tmp_path: Path, ws: Workspace, agent_log: Path
) -> None:
    result, ctx = run("claude", tmp_path, ws, "Add the feature [commit]", {**CLAUDE, "model": "opus", "max_turns": 9})
    (call,) = runs(agent_log)
    assert call["argv"][:7] == ["-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits",
                                "--model"]
    assert call["argv"][-2:] == ["--", "Add the feature [commit]"]
    assert Path(call["cwd"]).resolve() == Path(ws.path) and call["env"]["AGENTQ_TASK_ID"] == "21"
    session = result["session_id"]
    assert len(session) == 36
    assert ctx.details == {
        "session_id": session, "turns": 4, "cost_usd": 0.0123, "input_tokens": 6500, "output_tokens": 450,
        "cached_tokens": 5000, "final_message": "Done: I updated agent-output.txt.", "model": "opus",
        "transcript_path": str(tmp_path / "transcripts" / "task-21-attempt-1.jsonl"),
    }
    assert result["exit_code"] == 0 and result["cost_usd"] == 0.0123 and result["error_subtype"] is None
    summary = summarize_changes(ws)
    assert summary.commits == 1 and [f.path for f in summary.files] == ["agent-output.txt"]
    assert not summary.uncommitted


def test_claude_output_tail_is_readable_and_progress_names_the_turn_and_tool(tmp_path: Path, ws: Workspace) -> None:
    _, ctx = run("claude", tmp_path, ws, "Add the feature [commit]", {**CLAUDE, "max_turns": 8})
    tail = ctx.output_tail().splitlines()
    assert "→ Edit agent-output.txt" in tail and "→ Bash git add -A && git commit -m 'Agent change'" in tail
    assert "I'll make the change now." in tail and tail[-1] == "done · 4 turns · $0.0123"
    assert not any(line.lstrip().startswith("{") for line in tail)
    assert (tmp_path / "task.log").read_text().splitlines() == tail
    progress = ctx.on_progress.progress  # type: ignore[union-attr]
    assert (25, "turn 2 · Edit agent-output.txt") in progress
    assert progress[-1] == (50, "turn 4 · Bash git add -A && git commit -m 'Agent change'")


def test_the_transcript_holds_the_raw_lines_and_reads_back_as_events(tmp_path: Path, ws: Workspace) -> None:
    result, _ = run("claude", tmp_path, ws, "Add the feature", CLAUDE)
    raw = Path(result["transcript_path"]).read_text().splitlines()
    assert json.loads(raw[0])["format"] == "claude-stream"
    assert all(json.loads(line)["type"] for line in raw)
    events = list(read_transcript(result["transcript_path"]))
    edits = [e for e in events if isinstance(e, ToolCall)]
    assert edits == [ToolCall("Edit", {"file_path": str(Path(ws.path) / "agent-output.txt"), "old_string": "",
                                       "new_string": "done"}, "toolu_01", "msg_02")]
    assert [e.text for e in events if isinstance(e, AssistantText)][-1] == "Done: I updated agent-output.txt."
    assert isinstance(events[-1], Result) and events[-1].session_id == result["session_id"]


def test_uncommitted_work_is_left_for_the_summary_to_see(tmp_path: Path, ws: Workspace) -> None:
    run("claude", tmp_path, ws, "Add the feature", CLAUDE)
    summary = summarize_changes(ws)
    assert summary.commits == 0 and summary.uncommitted
    assert [(f.path, f.added) for f in summary.files] == [("agent-output.txt", 1)]


def test_claude_resumes_a_session(tmp_path: Path, ws: Workspace, agent_log: Path) -> None:
    result, _ = run("claude", tmp_path, ws, "Go on", CLAUDE, session_id="3f1c2b2e-0000-4000-8000-000000000001")
    assert runs(agent_log)[0]["argv"][-4:] == ["--resume", "3f1c2b2e-0000-4000-8000-000000000001", "--", "Go on"]
    assert result["session_id"] == "3f1c2b2e-0000-4000-8000-000000000001"


def test_claude_tolerates_broken_lines_through_a_real_pipe(tmp_path: Path, ws: Workspace) -> None:
    result, ctx = run("claude", tmp_path, ws, "Add the feature [fake:broken-stream]", CLAUDE)
    assert result["exit_code"] == 0 and result["cost_usd"] == 0.0123 and result["session_id"]
    tail = ctx.output_tail()
    assert "Warning: a plain-text line before the JSON" in tail
    assert "(a damaged output line of 65536 characters; kept in the transcript)" in tail
    assert "→ Read big.txt" in tail and "y" * 100 not in tail
    raw = Path(result["transcript_path"]).read_text()
    assert "y" * 200_000 in raw  # a 200 KB line arrives whole


def test_claude_rate_limited_parks_until_the_reset(
    tmp_path: Path, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_RESETS_AT", str(int(NOW) + 7200))
    with pytest.raises(UsageLimitReached) as info:
        run("claude", tmp_path, ws, "Add the feature [fake:rate-limit]", CLAUDE)
    assert info.value.resets_at == NOW + 7200


def test_failures_still_report_what_was_learnt(tmp_path: Path, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_RESETS_AT", str(int(NOW) + 60))
    ctx = make_ctx(make_task({"prompt": "[fake:rate-limit]", "workdir": ws.path}, task_id=21))
    with pytest.raises(UsageLimitReached):
        kind("claude", tmp_path).run(ctx.task, CLAUDE, ctx)
    assert ctx.details["session_id"] and ctx.details["error_subtype"] == "api_error_429"
    assert ctx.details["final_message"] == "You've hit your limit · resets 5pm (UTC)"
    assert Path(ctx.details["transcript_path"]).exists()


@pytest.mark.parametrize(
    ("mode", "error_type", "words"),
    [
        ("not-logged-in", PermanentError, "run `claude` once in a terminal to log in"),
        ("overloaded", AgentRunFailed, "passing reason"),
        ("max-turns", PermanentError, "turn limit (config.max_turns = 3)"),
        ("budget", PermanentError, "budget limit"),
        ("empty", AgentRunFailed, "printed nothing"),
    ],
)
def test_claude_failure_classes(tmp_path: Path, ws: Workspace, mode: str, error_type: type, words: str) -> None:
    config = {**CLAUDE, "max_turns": 3} if mode == "max-turns" else CLAUDE
    with pytest.raises(error_type) as info:
        run("claude", tmp_path, ws, f"Add the feature [fake:{mode}]", config)
    assert words in str(info.value)
    if error_type is AgentRunFailed:
        assert not isinstance(info.value, PermanentError)


def test_an_unknown_flag_fails_at_once(tmp_path: Path, ws: Workspace) -> None:
    with pytest.raises(PermanentError, match=r"does not accept the arguments.*--bogus.*config\.extra_args"):
        run("claude", tmp_path, ws, "Add the feature", {**CLAUDE, "extra_args": ["--bogus"]})


def test_a_program_that_is_not_installed_says_how_to_install_it(tmp_path: Path, ws: Workspace) -> None:
    with pytest.raises(PermanentError) as info:
        run("claude", tmp_path, ws, "Add the feature", {"cli": "agentq-no-such-claude"})
    assert str(info.value) == (
        "'agentq-no-such-claude' was not found: install Claude Code (npm install -g @anthropic-ai/claude-code), "
        "or set config.cli to its path"
    )


def test_a_missing_workdir_or_empty_prompt_fails_permanently_naming_the_field(tmp_path: Path) -> None:
    for payload, field in (({"prompt": "x"}, "payload.workdir"), ({"prompt": "", "workdir": "/"}, "payload.prompt"),
                           ({"prompt": "x", "workdir": str(tmp_path / "gone")}, "payload.workdir")):
        ctx = make_ctx(make_task(payload))
        with pytest.raises(PermanentError, match=field.replace(".", r"\.")):
            kind("claude", tmp_path).run(ctx.task, CLAUDE, ctx)


@pytest.mark.parametrize("name", ["claude", "codex"])
def test_cancel_stops_a_hanging_agent(
    tmp_path: Path, ws: Workspace, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("FAKE_PID_FILE", str(pid_file))
    ctx = make_ctx(make_task({"prompt": "[fake:hang]", "workdir": ws.path}, task_id=21))
    def cancel_once_running() -> None:
        wait_until(pid_file.exists, 30, "the agent wrote its pid")
        ctx.cancel_event.set()

    canceller = threading.Thread(target=cancel_once_running)
    canceller.start()
    with pytest.raises(TaskCancelled):
        kind(name, tmp_path).run(ctx.task, CLAUDE if name == "claude" else CODEX, ctx)
    canceller.join()
    assert process_gone(int(pid_file.read_text()))
    assert ctx.details["session_id"]  # reported though it never finished


def test_a_hanging_agent_times_out(tmp_path: Path, ws: Workspace) -> None:
    with pytest.raises(TaskTimeout):
        run("claude", tmp_path, ws, "[fake:hang]", {**CLAUDE, "timeout_s": 600}, timeout_s=1.0)


def test_codex_run_reports_thread_tokens_and_cost_from_the_price_table(
    tmp_path: Path, ws: Workspace, agent_log: Path
) -> None:
    result, ctx = run("codex", tmp_path, ws, "Add the feature [commit]", {**CODEX, "model": "gpt-5"})
    (call,) = runs(agent_log)
    assert call["argv"] == ["exec", "--json", "--sandbox", "workspace-write", "-m", "gpt-5", "--",
                            "Add the feature [commit]"]
    expected_cost = round(((24763 - 24448) * 1.25 + 24448 * 0.125 + 122 * 10.0) / 1e6, 6)
    assert ctx.details == {
        "session_id": result["session_id"], "turns": 1, "cost_usd": expected_cost, "input_tokens": 24763,
        "cached_tokens": 24448, "output_tokens": 122, "final_message": "Updated agent-output.txt; model gpt-5.",
        "model": "gpt-5", "transcript_path": str(tmp_path / "transcripts" / "task-21-attempt-1.jsonl"),
    }
    assert "→ Run bash -lc 'ls'" in ctx.output_tail() and "→ Edit agent-output.txt" in ctx.output_tail()
    assert summarize_changes(ws).commits == 1


def test_a_worktrees_shared_git_folder_is_opened_to_the_agent_so_it_can_commit(
    tmp_path: Path, repo: Path, ws: Workspace, agent_log: Path
) -> None:
    ctx = make_ctx(make_task({"prompt": "Add the feature [commit]"}, task_id=21))
    git_dir = str(repo / ".git")
    kind("codex", tmp_path).execute(ctx.task, CODEX, ctx, prompt="Add it [commit]", workdir=ws.path,
                                    writable_dirs=(git_dir,), extra_env={"PORT": "20001"})
    (call,) = runs(agent_log)
    assert call["argv"][3:7] == ["workspace-write", "--add-dir", git_dir, "--"]
    assert call["env"]["PORT"] == "20001" and call["env"]["AGENTQ_TASK_ID"] == "21"
    assert summarize_changes(ws).commits == 1


def test_codex_without_a_priced_model_has_no_cost(tmp_path: Path, ws: Workspace) -> None:
    result, _ = run("codex", tmp_path, ws, "Add the feature", CODEX)
    assert result["cost_usd"] is None and result["input_tokens"] == 24763


def test_codex_resumes_a_thread(tmp_path: Path, ws: Workspace, agent_log: Path) -> None:
    result, _ = run("codex", tmp_path, ws, "Go on", CODEX, session_id="0199a213-81c0-7800-8aa1-bbab2a035a53")
    assert runs(agent_log)[0]["argv"][-4:] == ["resume", "0199a213-81c0-7800-8aa1-bbab2a035a53", "--", "Go on"]
    assert result["session_id"] == "0199a213-81c0-7800-8aa1-bbab2a035a53"


def test_codex_usage_limit_parks_for_the_time_it_names(tmp_path: Path, ws: Workspace) -> None:
    with pytest.raises(UsageLimitReached) as info:
        run("codex", tmp_path, ws, "[fake:usage-limit]", CODEX)
    assert info.value.resets_at == NOW + 2 * 3600 + 5 * 60


@pytest.mark.parametrize(
    ("mode", "error_type", "words"),
    [("not-logged-in", PermanentError, "run `codex login`"), ("overloaded", AgentRunFailed, "503 Service Unavailable")],
)
def test_codex_failure_classes(tmp_path: Path, ws: Workspace, mode: str, error_type: type, words: str) -> None:
    with pytest.raises(error_type) as info:
        run("codex", tmp_path, ws, f"[fake:{mode}]", CODEX)
    assert words in str(info.value)


def test_codex_unknown_flag_fails_at_once(tmp_path: Path, ws: Workspace) -> None:
    with pytest.raises(PermanentError, match="unexpected argument '--bogus'"):
        run("codex", tmp_path, ws, "x", {**CODEX, "extra_args": ["--bogus"]})


TEXT = {"cli": fake("fake_text_agent.py")}


@pytest.mark.parametrize("name", ["aider", "gemini", "cursor"])
def test_text_presets_run_and_commit_like_the_others(tmp_path: Path, ws: Workspace, agent_log: Path, name: str) -> None:
    result, ctx = run(name, tmp_path, ws, "Add the feature [commit]", {**TEXT, "model": "m"})
    assert result["exit_code"] == 0 and result["session_id"] is None and result["cost_usd"] is None
    assert "Done." in ctx.output_tail() and ctx.details["transcript_path"]
    assert "--model" in runs(agent_log)[0]["argv"]
    assert summarize_changes(ws).commits == 1
    assert git(ws.path, "log", "-1", "--format=%s") == "Agent change"


@pytest.mark.parametrize(
    ("name", "mode", "error_type", "words"),
    [
        ("aider", "not-logged-in", PermanentError, "ANTHROPIC_API_KEY"),
        ("gemini", "turn-limit", PermanentError, "turn limit"),
        ("cursor", "unknown-flag", PermanentError, "config.extra_args"),
        ("aider", "rate-limit", UsageLimitReached, ""),
    ],
)
def test_text_presets_failure_classes(
    tmp_path: Path, ws: Workspace, name: str, mode: str, error_type: type, words: str
) -> None:
    with pytest.raises(error_type) as info:
        run(name, tmp_path, ws, f"[fake:{mode}]", TEXT)
    assert words in str(info.value)
    if isinstance(info.value, UsageLimitReached):
        assert info.value.resets_at == NOW + 20 * 60
