"""`agentq` for coding agents, in real subprocesses: presets validated by their kind, `agents show` with
the timeout in force and where it comes from, the README's first example end to end, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gitrepos import FAKES, git, install_program, make_repo

from tests.e2e.test_cli_errors import one_line_error


def agentq(env: dict[str, str], *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "desktop", *args], env=env, capture_output=True, text=True,
                            timeout=120, check=False, cwd=cwd)
    if check:
        assert result.returncode == 0, (args, result.stderr)
    return result


def test_presets_take_their_options_and_agents_show_says_which_timeout_applies_and_why(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "bin").mkdir()
    agentq(cli_env, "agents", "add", "coder", "claude", "--model", "sonnet", "--max-turns", "5", "--max-budget-usd", "2",
           "--extra-arg=--append-system-prompt", "--extra-arg", "be brief", "--cli", "bin/claude",
           "--daily-budget-usd", "3", "--config", '{"env": {"ANTHROPIC_API_KEY": "sk-very-secret"}}', cwd=tmp_path)
    shown = json.loads(agentq(cli_env, "agents", "show", "coder", "--json").stdout)
    config = shown["agent"]["config"]
    assert config == {"env": {"ANTHROPIC_API_KEY": "***hidden***"}, "model": "sonnet", "max_turns": 5,
                      "max_budget_usd": 2.0, "extra_args": ["--append-system-prompt", "be brief"],
                      "cli": str((tmp_path / "bin" / "claude").resolve())}
    assert (shown["timeout_s"], shown["timeout_from"]) == (7200.0, "the claude preset's default")
    text = agentq(cli_env, "agents", "show", "coder").stdout
    assert "timeout      2 h (from the claude preset's default)" in text and "sk-very-secret" not in text
    assert "daily budget $3.00 (spent today $0.00)" in text
    agentq(cli_env, "agents", "update", "coder", "--model", "opus", "--timeout", "30m")
    shown = json.loads(agentq(cli_env, "agents", "show", "coder", "--json").stdout)
    assert shown["agent"]["config"]["model"] == "opus" and shown["agent"]["config"]["max_turns"] == 5
    assert (shown["timeout_s"], shown["timeout_from"]) == (1800.0, "the agent")
    agentq(cli_env, "agents", "add", "script", "command", "--config", '{"argv": ["make"], "timeout_s": 600}')
    assert "timeout      10 min (from the agent's config (timeout_s))" in agentq(cli_env, "agents", "show", "script").stdout
    agentq(cli_env, "agents", "add", "hello", "echo")
    assert "timeout      10 s (from the test profile's default)" in agentq(cli_env, "agents", "show", "hello").stdout


def test_an_unknown_preset_or_an_option_it_lacks_is_refused_by_name_and_writes_nothing(cli_env: dict[str, str]) -> None:
    unknown = agentq(cli_env, "agents", "add", "coder", "claudee", check=False)
    one_line_error(unknown, 2, "kind: unknown agent kind 'claudee'", "aider, claude, codex", "cursor", "gemini")
    lacks = agentq(cli_env, "agents", "add", "coder", "codex", "--max-turns", "3", check=False)
    one_line_error(lacks, 2, "config.max_turns", "Codex CLI has no such option")
    budget = agentq(cli_env, "agents", "add", "coder", "claude", "--daily-budget-usd", "-1", check=False)
    one_line_error(budget, 2, "daily_budget_usd", "positive number of US dollars")
    assert json.loads(agentq(cli_env, "agents", "list", "--json").stdout) == []


def test_coding_task_input_errors_are_one_line_naming_the_field(cli_env: dict[str, str], repo: Path) -> None:
    agentq(cli_env, "agents", "add", "coder", "claude")
    agentq(cli_env, "agents", "add", "echo", "echo")
    agentq(cli_env, "repos", "add", str(repo))
    for args, words in (
        (("enqueue", "coder", "--repo", "repo", "--prompt", ""), ("payload.prompt", "non-empty")),
        (("enqueue", "coder", "--prompt", "x"), ("repo:", "works in a repository")),
        (("enqueue", "coder", "--repo", "repo", "--prompt", "x", "--payload", "[1]"), ("payload", "--prompt")),
        (("enqueue", "coder", "--repo", "elsewhere", "--prompt", "x"), ("agentq repos add elsewhere",)),
        (("enqueue", "coder", "--follow-up", "7", "--prompt", "x"), ("follow_up_of", "task 7 does not exist")),
        (("repos", "add", str(repo / "src")), ("source:", "give its top folder")),
        (("repos", "add", str(repo), "--mode", "in-place", "--push"), ("push:", "worktree mode only")),
        (("repos", "update", "repo"), ("give at least one setting",)),
        (("repos", "show", "nope"), ("no repository named 'nope'",)),
    ):
        result = agentq(cli_env, *args, check=False)
        one_line_error(result, 1 if args[:2] == ("repos", "show") else 2, *words)
    plain = json.loads(agentq(cli_env, "enqueue", "echo", "--json").stdout)[0]["id"]
    one_line_error(agentq(cli_env, "diff", str(plain), check=False), 1, "works on no repository")
    one_line_error(agentq(cli_env, "diff", "99", check=False), 1, "task 99 does not exist")
    assert [t["id"] for t in json.loads(agentq(cli_env, "list", "--json").stdout)] == [plain]


def readme_first_example() -> list[str]:
    """The commands of the README's first example: its second shell block."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = text.split("```sh\n")[2].split("```")[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readmes_first_example_runs_as_written_against_the_fake_agent(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Word for word, in a shell, with the fake Claude Code installed as `claude` and a clone at ~/src/app."""
    commands = readme_first_example()
    assert [c.split()[:2] for c in commands] == [["agentq", "repos"], ["agentq", "agents"], ["agentq", "enqueue"],
                                                 ["agentq", "worker"], ["agentq", "show"], ["agentq", "diff"]]
    home = tmp_path / "home"
    make_repo(home / "src" / "app")
    install_program(tmp_path / "bin", "claude", FAKES / "fake_claude.py")
    env = {**cli_env, "HOME": str(home), "PATH": f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def shell(command: str) -> str:
        done = subprocess.run(["bash", "-c", command], env=env, cwd=home, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (command, done.stderr)
        return done.stdout

    outputs = {}
    for command in commands:
        if command.startswith("agentq worker"):
            worker = subprocess.Popen(["bash", "-c", f"exec {command}"], env=env, cwd=home,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(600):
                    if json.loads(shell("agentq show 1 --json"))["task"]["status"] == "completed":
                        break
                else:
                    raise AssertionError("task 1 did not complete")
            finally:
                worker.terminate()
                assert worker.wait(30) == 0
            continue
        outputs[command.split()[1]] = shell(command)
    assert outputs["repos"].startswith(f"added repository app (worktree, up to 1 task at once, from main): {home}")
    assert outputs["enqueue"] == "enqueued task 1 (pending)\n"
    shown = outputs["show"]
    for line in ("Task 1  [completed]  agent coder", "branch       agentq/1-add-a-version-flag-to-the-command-line",
                 "cost         $0.0123", "tokens       6,500 in, 450 out", "+1     -0  agent-output.txt"):
        assert line in shown, shown
    facts = json.loads(shell("agentq show 1 --json"))
    assert {"branch", "worktree", "base_commit", "head_commit", "files_changed", "cost_usd", "input_tokens",
            "output_tokens", "session_id"} <= set(facts)
    diff = outputs["diff"]
    assert diff.startswith("diff --git a/agent-output.txt b/agent-output.txt")
    assert "+done: Add a --version flag to the command line" in diff
    assert git(home / "src" / "app", "status", "--porcelain") == ""
