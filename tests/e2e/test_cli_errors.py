"""Each CLI case of issue 12 as a new user meets it: one clear line, the right exit code, the truth."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest

from desktop.cli import build_parser
from desktop.queue import TaskQueueService
from tests.e2e.conftest import agentq


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *expected: str) -> str:
    """The stderr of a refused command: exactly one line, no traceback, with the expected words."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    text = result.stderr.strip()
    assert len(text.splitlines()) == 1 and "Traceback" not in text, text
    for words in expected:
        assert words in text, (words, text)
    return text


def test_an_unknown_log_level_is_a_usage_error(env: dict[str, str]) -> None:
    loud = agentq(env, "--log-level", "LOUD", "list", check=False)
    one_line_error(loud, 2, "--log-level", "'LOUD' is not a log level")
    one_line_error(agentq(env, "list", "--log-level", "loud", check=False), 2, "not a log level")
    assert agentq(env, "list", "--log-level", "debug").returncode == 0  # any case


def test_an_unknown_status_is_a_usage_error(env: dict[str, str]) -> None:
    one_line_error(agentq(env, "list", "--status", "bogus", check=False), 2, "--status", "'bogus'", "pending")


def test_a_negative_or_zero_limit_is_refused(env: dict[str, str]) -> None:
    one_line_error(agentq(env, "list", "--limit", "-5", check=False), 2, "--limit", "must be 1 or more")
    one_line_error(agentq(env, "list", "--limit", "0", check=False), 2, "--limit")


def test_ids_out_of_range_are_usage_errors(env: dict[str, str]) -> None:
    one_line_error(agentq(env, "retry", str(10**30), check=False), 2, "out of range")
    one_line_error(agentq(env, "show", "0", check=False), 2, "task id")


def test_repo_names_a_registered_repository_by_name_or_path_and_a_bare_host_path_is_a_remote_unless_such_a_folder_exists(
    env: dict[str, str], tmp_path: Path
) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    folder = tmp_path / "github.com" / "me" / "app"
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    identity = ["-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(folder), *identity, "commit", "-q", "--allow-empty", "-m", "initial"], check=True)
    agentq(env, "repos", "add", str(folder))
    [by_name] = json.loads(agentq(env, "enqueue", "echo", "--repo", "app", "--json").stdout)
    assert by_name["repo"] == "app" and by_name["lock_key"] == f"path:{folder.resolve()}"
    [local] = json.loads(agentq(env, "enqueue", "echo", "--repo", "github.com/me/app", "--json", cwd=tmp_path).stdout)
    assert local["repo"] == "app" and local["lock_key"] == by_name["lock_key"]
    remote = agentq(env, "enqueue", "echo", "--repo", "github.com/me/app", check=False)  # no such folder here
    one_line_error(remote, 2, "repo:", "no repository 'github.com/me/app' is registered", "agentq repos add")
    assert len(json.loads(agentq(env, "list", "--json").stdout)) == 2


def test_an_empty_repo_is_refused_not_a_task_without_a_lock(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    one_line_error(agentq(env, "enqueue", "echo", "--repo", "", check=False), 2, "repo:", "non-empty")
    one_line_error(agentq(env, "enqueue", "echo", "--repo", "  ", check=False), 2, "repo:")
    one_line_error(agentq(env, "enqueue", "echo", "--repo", "x", "--lock-key", "y", check=False), 2, "not both")
    assert json.loads(agentq(env, "list", "--json").stdout) == []


def test_removing_an_agent_with_tasks_names_the_real_flag(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    agentq(env, "enqueue", "echo")
    text = one_line_error(agentq(env, "agents", "remove", "echo", check=False), 1, "--cancel-tasks")
    assert "cancel_tasks" not in text and "1 unfinished task;" in text
    assert "removed agent echo" in agentq(env, "agents", "remove", "echo", "--cancel-tasks").stdout


def test_cancel_acts_on_every_id_it_can_and_names_each_it_cannot(env: dict[str, str], db_url: str) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    first = json.loads(agentq(env, "enqueue", "echo", "--json").stdout)[0]["id"]
    result = agentq(env, "cancel", str(first), "999", check=False)
    assert result.returncode == 1
    assert result.stdout.strip() == f"task {first}: cancelled"
    assert result.stderr.strip() == "agentq: error: task 999 does not exist"
    service = TaskQueueService.open(db_url)
    assert service.get(first).status.value == "cancelled"
    service.close()


def test_cancelling_a_finished_task_is_refused_on_stderr(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    agentq(env, "enqueue", "echo")
    agentq(env, "worker", "--burst")
    result = agentq(env, "cancel", "1", check=False)
    assert result.stdout == ""
    one_line_error(result, 1, "task 1 is already completed; there is nothing to cancel")
    assert json.loads(agentq(env, "cancel", "1", "--json", check=False).stdout) == []


def test_retry_reports_each_id(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    agentq(env, "enqueue", "echo")
    agentq(env, "cancel", "1")
    result = agentq(env, "retry", "1", "77", check=False)
    assert result.returncode == 1 and result.stdout.strip() == "task 1 is pending again"
    assert result.stderr.strip() == "agentq: error: task 77 does not exist"


@pytest.mark.parametrize("position", ["before", "after"])
def test_json_and_db_work_before_and_after_the_command(env: dict[str, str], tmp_path: Path, position: str) -> None:
    other = tmp_path / "other.db"
    env = {k: v for k, v in env.items() if k != "AGENTQ_DATABASE_URL"}
    options = ["--db", f"sqlite:///{other}", "--json"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return agentq(env, *options, *args) if position == "before" else agentq(env, *args, *options)

    assert json.loads(run("agents", "add", "echo", "echo").stdout)["name"] == "echo"
    assert json.loads(run("enqueue", "echo").stdout)[0]["agent"] == "echo"
    assert [t["agent"] for t in json.loads(run("list").stdout)] == ["echo"]
    assert json.loads(run("pause").stdout) == {"paused": True, "agent": None}
    assert json.loads(run("stats").stdout)["paused"] is True
    assert other.exists()


def test_json_on_a_command_without_json_output_is_refused(env: dict[str, str]) -> None:
    one_line_error(agentq(env, "--json", "metrics", check=False), 2, "--json", "metrics")


def test_a_plain_file_path_works_as_db(env: dict[str, str], tmp_path: Path) -> None:
    agentq(env, "--db", str(tmp_path / "plain.db"), "agents", "add", "echo", "echo")
    assert (tmp_path / "plain.db").exists()


def test_db_in_a_folder_that_does_not_exist_needs_create(env: dict[str, str], tmp_path: Path) -> None:
    typo = tmp_path / "dtaa" / "queue.db"
    text = one_line_error(agentq(env, "--db", f"sqlite:///{typo}", "list", check=False), 2, "--create")
    assert str(typo.parent) in text and not typo.parent.exists()
    one_line_error(agentq(env, "list", "--db", str(typo), check=False), 2, "does not exist")
    assert not typo.parent.exists()
    assert agentq(env, "list", "--db", str(typo), "--create").stdout.strip() == "no tasks"
    assert typo.exists()
    assert agentq(env, "--db", str(tmp_path / "new.db"), "list").returncode == 0  # an existing folder is fine


def test_a_burst_worker_on_a_paused_queue_says_so_and_exits_1(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    agentq(env, "enqueue", "echo")
    agentq(env, "pause")
    one_line_error(agentq(env, "worker", "--burst", check=False), 1, "the queue is paused", "agentq resume")
    agentq(env, "resume")
    agentq(env, "worker", "--burst")
    assert json.loads(agentq(env, "list", "--json").stdout)[0]["status"] == "completed"


@pytest.mark.parametrize(
    "argv, warned",
    [
        (["sh", "-c", "echo {msg}"], "config.argv[2]: {msg}"),
        (["bash", "-lc", "git commit -m '{msg}'"], "config.argv[2]: {msg}"),
        (["/usr/bin/python3", "-c", "print('{msg}')"], "config.argv[2]: {msg}"),
        (["env", "A=1", "zsh", "-c", "say {msg}"], "config.argv[4]: {msg}"),
        (["{program}", "--flag"], "config.argv[0]: the program to run comes from the payload"),
        (["sh", "-c", 'echo "$1"', "sh", "{msg}"], None),
        (["echo", "{msg}"], None),
        (["python3", "script.py", "{msg}"], None),
    ],
)
def test_an_argv_that_puts_a_placeholder_into_code_gets_a_warning(
    env: dict[str, str], argv: list[str], warned: str | None
) -> None:
    config = json.dumps({"argv": argv})
    added = agentq(env, "agents", "add", "runner", "command", "--config", config)
    updated = agentq(env, "agents", "update", "runner", "--config", config)
    for result in (added, updated):
        if warned is None:
            assert result.stderr == ""
        else:
            assert result.stderr.startswith("agentq: warning: " + warned), result.stderr
            assert len(result.stderr.strip().splitlines()) == 1


def test_a_second_enqueue_with_the_same_unique_key_says_nothing_was_enqueued(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    assert agentq(env, "enqueue", "echo", "--unique-key", "u1").stdout.strip() == "enqueued task 1 (pending)"
    again = agentq(env, "enqueue", "echo", "--unique-key", "u1").stdout.strip()
    assert again == "task 1 already has the unique key 'u1' (pending); nothing was enqueued"
    assert len(json.loads(agentq(env, "list", "--json").stdout)) == 1


def test_enqueue_file_prints_one_summary_line_and_json_lists_the_tasks(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    lines = "".join(json.dumps({"agent": "echo", "payload": n}) + "\n" for n in range(1500))
    out = agentq(env, "enqueue", "--file", "-", input=lines).stdout
    assert out == "enqueued 1,500 tasks (ids 1–1500)\n"
    again = '{"agent": "echo", "unique_key": "k"}\n{"agent": "echo", "unique_key": "k"}\n'
    assert agentq(env, "enqueue", "--file", "-", input=again).stdout == "enqueued 1 task (id 1501)\n"
    out = agentq(env, "enqueue", "--file", "-", input=again).stdout
    assert out == "enqueued 0 tasks; 2 already existed with the same unique key (1501)\n"
    three = "".join(lines.splitlines(keepends=True)[:3])
    listed = json.loads(agentq(env, "enqueue", "--file", "-", "--json", input=three).stdout)
    assert [(t["id"], t["payload"]) for t in listed] == [(1502, 0), (1503, 1), (1504, 2)]


def test_the_worker_reads_polling_interval_and_log_level_options_and_log_level_from_the_environment(
    env: dict[str, str],
) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    agentq(env, "enqueue", "echo")
    default = agentq(env, "worker", "--burst", "--polling-interval", "0.05")
    assert "started: concurrency" in default.stderr  # INFO by default
    quiet = agentq({**env, "LOG_LEVEL": "warning"}, "worker", "--burst", "--poll-interval", "0.05")
    assert "started: concurrency" not in quiet.stderr
    louder = agentq({**env, "LOG_LEVEL": "warning"}, "worker", "--burst", "--log-level", "INFO")
    assert "started: concurrency" in louder.stderr  # the option wins over the environment
    one_line_error(agentq({**env, "LOG_LEVEL": "LOUD"}, "worker", "--burst", check=False), 2, "LOG_LEVEL")
    one_line_error(agentq(env, "worker", "--polling-interval", "soon", check=False), 2, "--poll-interval")


def _options(parser: argparse.ArgumentParser, path: str = "agentq") -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _options(child, f"{path} {name}")
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            found.append((path, action))
    return found


def test_every_option_and_argument_has_help_text() -> None:
    missing = [f"{path} {action.dest}" for path, action in _options(build_parser()) if not action.help]
    assert missing == []


ISSUE_14_CLI: list[tuple[str, tuple[str, ...], int, str]] = [
    ("payload-nested-10000", ("enqueue", "e", "--payload", "[" * 10_000 + "]" * 10_000), 2, "--payload"),
    ("payload-lone-surrogate", ("enqueue", "e", "--payload", '{"text": "\\ud800"}'), 2, "payload:"),
    ("max-retries-10e20", ("enqueue", "e", "--max-retries", str(10**20)), 2, "max_retries:"),
    ("retry-10e30", ("retry", str(10**30)), 2, "ID"),
    ("at-9999-minus-12", ("enqueue", "e", "--at", "9999-12-31T23:00:00-12:00"), 2, "scheduled_for:"),
    ("at-year-1-plus-5", ("enqueue", "e", "--at", "0001-01-01T00:30:00+05:00"), 2, "scheduled_for:"),
    ("in-99999999999d", ("enqueue", "e", "--in", "99999999999d"), 2, "--in"),
    ("cron-30-february", ("schedules", "add", "feb", "0 0 30 2 *", "e"), 2, "cron:"),
    ("cron-six-fields", ("schedules", "add", "six", "* * * * * *", "e"), 2, "cron:"),
    ("cron-seven-fields", ("schedules", "add", "seven", "* * * * * * *", "e"), 2, "cron:"),
    ("agent-name-newline", ("agents", "add", "abc\n", "echo"), 2, "name:"),
    ("lock-key-newline", ("enqueue", "e", "--lock-key", "repo\nother"), 2, "lock_key:"),
    ("retry-base-a-century-and-more", ("agents", "add", "slow", "echo", "--retry-base", "99999999999d"), 2,
     "--retry-base"),
]


@pytest.mark.parametrize(("args", "code", "field"), [c[1:] for c in ISSUE_14_CLI], ids=[c[0] for c in ISSUE_14_CLI])
def test_issue_14_bad_input_on_the_command_line_is_one_line_naming_the_field_and_writes_nothing(
    env: dict[str, str], db_url: str, args: tuple[str, ...], code: int, field: str
) -> None:
    agentq(env, "agents", "add", "e", "echo")
    one_line_error(agentq(env, *args, check=False), code, field)
    with TaskQueueService.open(db_url) as service:
        assert service.count_tasks() == 0 and [a.name for a in service.list_agents()] == ["e"]
        assert service.list_schedules() == []


def test_issue_14_a_nul_in_a_lock_key_from_a_file_is_refused_naming_the_item(env: dict[str, str], db_url: str) -> None:
    agentq(env, "agents", "add", "e", "echo")
    lines = [json.dumps({"agent": "e"}), json.dumps({"agent": "e", "lock_key": "k\u0000"})]
    one_line_error(agentq(env, "enqueue", "--file", "-", input="\n".join(lines) + "\n", check=False), 2, "lock_key")
    with TaskQueueService.open(db_url) as service:
        assert service.count_tasks() == 0


def test_issue_14_a_settings_file_with_an_unusable_backoff_is_refused_naming_it(env: dict[str, str]) -> None:
    settings = Path(env["AGENTQ_CONFIG_DIR"]) / "settings.json"
    settings.write_text(json.dumps({"retry_base_s": 1e308}))
    one_line_error(agentq(env, "list", check=False), 2, "retry_base_s", "at most")
    settings.write_text(json.dumps({"lease_s": 1e308}))
    one_line_error(agentq(env, "worker", "--burst", check=False), 2, "lease_s", "at most")


def test_issue_14_a_database_from_a_newer_version_is_one_line_and_left_untouched(
    env: dict[str, str], db_path: Path
) -> None:
    import sqlite3

    TaskQueueService.open(f"sqlite:///{db_path}").close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE alembic_version SET version_num = '0099'")
    conn.commit()
    conn.close()  # the last connection checkpoints the WAL into the file
    before = db_path.read_bytes()
    one_line_error(agentq(env, "list", check=False), 1, "created by a newer version of Agent Queue (revision 0099)")
    assert db_path.read_bytes() == before
