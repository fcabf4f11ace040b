"""Per-task worktrees: naming, creation from the base, the per-repository lock across processes,
copied files and the setup command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from gitrepos import commit_file, git

from desktop.agents.base import PermanentError, TaskCancelled
from desktop.errors import TaskValidationError
from desktop.workspaces import (
    SetupFailed,
    Workspace,
    WorkspaceError,
    branch_name,
    copy_untracked,
    create_worktree,
    in_place_workspace,
    repo_lock,
    run_setup,
    slugify,
    validate_copy_patterns,
    validate_setup_command,
)
from tests.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("prompt", "slug"),
    [
        ("Fix the failing test in src/app.py", "fix-the-failing-test-in-src-app-py"),
        ("  Ünïcödé   café!!  ", "unicode-cafe"),
        ("Add a README section about installing on Windows and macOS", "add-a-readme-section-about-installing-on"),
        ("", "task"),
        ("日本語だけ", "task"),
        ("x" * 80, "x" * 40),
    ],
)
def test_slugs_are_short_lowercase_ascii_words(prompt: str, slug: str) -> None:
    assert slugify(prompt) == slug
    assert len(slugify(prompt)) <= 40


def test_branch_names_carry_the_full_task_id() -> None:
    assert branch_name(1234567, "Fix it") == "agentq/1234567-fix-it"
    assert git_check_ref_format(branch_name(7, "weird ~^: name?*[")) == 0


def git_check_ref_format(name: str) -> int:
    return subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True).returncode


def test_a_worktree_gets_its_own_branch_from_the_base(repo: Path, worktrees_dir: Path) -> None:
    base = git(repo, "rev-parse", "main")
    ws = create_worktree(repo, 42, "Fix the failing test", worktrees_dir, "main")
    assert ws == Workspace(
        path=str(worktrees_dir.resolve() / "42-fix-the-failing-test"),
        branch="agentq/42-fix-the-failing-test",
        base="main",
        base_commit=base,
        repo_path=str(repo.resolve()),
        created=True,
    )
    assert git(ws.path, "symbolic-ref", "--short", "HEAD") == ws.branch
    assert git(ws.path, "rev-parse", "HEAD") == base
    assert (Path(ws.path) / "src" / "app.py").read_text() == "def main():\n    return 1\n"
    listed = git(repo, "worktree", "list", "--porcelain")
    assert f"worktree {ws.path}" in listed
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"  # the user's checkout is untouched
    assert Workspace.from_json(json.loads(json.dumps(ws.to_json()))) == ws


def test_a_worktree_can_start_from_another_branch_or_a_remote_branch(
    repo: Path, remote: Path, worktrees_dir: Path
) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    feature = commit_file(repo, "feature.txt", "f\n")
    git(repo, "checkout", "-q", "main")
    ws = create_worktree(repo, 1, "on feature", worktrees_dir, "feature")
    assert ws.base_commit == feature
    from_remote = create_worktree(repo, 2, "on origin", worktrees_dir, "origin/main")
    assert from_remote.base_commit == git(repo, "rev-parse", "origin/main")
    assert git_config_absent(repo, f"branch.{from_remote.branch}.merge")  # no upstream set to origin/main


def git_config_absent(repo: Path, key: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "config", "--get", key], capture_output=True).returncode == 1


def test_a_missing_base_an_existing_branch_or_folder_is_refused_and_nothing_is_touched(
    repo: Path, worktrees_dir: Path
) -> None:
    with pytest.raises(WorkspaceError, match="'nope' names no commit"):
        create_worktree(repo, 1, "x", worktrees_dir, "nope")
    git(repo, "branch", "agentq/2-x")
    with pytest.raises(WorkspaceError, match="branch 'agentq/2-x' already exists"):
        create_worktree(repo, 2, "x", worktrees_dir, "main")
    folder = worktrees_dir / "3-x"
    folder.mkdir(parents=True)
    (folder / "mine.txt").write_text("keep me")
    with pytest.raises(WorkspaceError, match="already exists"):
        create_worktree(repo, 3, "x", worktrees_dir, "main")
    assert (folder / "mine.txt").read_text() == "keep me"
    assert git(repo, "branch", "--list", "agentq/3-x") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_folder_that_is_not_a_repository_is_a_validation_error(tmp_path: Path, worktrees_dir: Path) -> None:
    with pytest.raises(TaskValidationError) as info:
        create_worktree(tmp_path, 1, "x", worktrees_dir, "main")
    assert info.value.field == "repo"


def test_in_place_is_the_repository_itself_and_not_created(repo: Path) -> None:
    ws = in_place_workspace(repo)
    assert ws.path == str(repo.resolve()) and ws.branch == "main" and not ws.created
    assert ws.base_commit == git(repo, "rev-parse", "HEAD")


CREATOR = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from desktop.workspaces import create_worktree
    repo, wt_dir, go, ready, first = sys.argv[1:6]
    Path(ready).write_text("ready")
    while not Path(go).exists():
        time.sleep(0.005)
    made = [create_worktree(repo, int(first) + i, "same prompt", wt_dir, "main").to_json() for i in range(5)]
    print(json.dumps(made))
    """
)


def test_two_processes_creating_worktrees_of_one_repo_at_once_both_succeed(
    tmp_path: Path, repo: Path, worktrees_dir: Path
) -> None:
    go = tmp_path / "go"
    procs = []
    for n, first in enumerate((100, 200)):
        ready = tmp_path / f"ready-{n}"
        procs.append(
            (
                subprocess.Popen(
                    [sys.executable, "-c", CREATOR, str(repo), str(worktrees_dir), str(go), str(ready), str(first)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=REPO_ROOT,
                    env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                ),
                ready,
            )
        )
    wait_until(lambda: all(ready.exists() for _, ready in procs), 30, "the creating processes started")
    go.write_text("go")  # both start creating at the same instant
    made = []
    for proc, _ in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        made.extend(json.loads(out))
    assert len(made) == 10 and len({ws["path"] for ws in made}) == 10 and len({ws["branch"] for ws in made}) == 10
    listed = git(repo, "worktree", "list", "--porcelain")
    for ws in made:
        assert f"worktree {ws['path']}" in listed
        assert git(ws["path"], "symbolic-ref", "--short", "HEAD") == ws["branch"]
        assert git(ws["path"], "status", "--porcelain") == ""
    git(repo, "fsck", "--no-progress")


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from desktop.workspaces import repo_lock
    repo, held, release = sys.argv[1:4]
    with repo_lock(repo):
        Path(held).write_text("held")
        while not Path(release).exists():
            time.sleep(0.01)
    """
)


def test_the_repository_lock_excludes_another_process(tmp_path: Path, repo: Path) -> None:
    held, release = tmp_path / "held", tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(repo), str(held), str(release)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        wait_until(held.exists, 30, "the other process took the lock")
        with pytest.raises(WorkspaceError, match="worktree lock"):
            with repo_lock(repo, timeout=0.2):
                pass
        release.write_text("go")
        assert holder.wait(timeout=30) == 0
        with repo_lock(repo, timeout=5):
            pass
    finally:
        release.write_text("go")
        holder.wait(timeout=30)


def test_listed_untracked_files_are_copied_and_nothing_is_overwritten(repo: Path, worktrees_dir: Path) -> None:
    (repo / ".env").write_text("SECRET=1\n")
    (repo / "config").mkdir()
    (repo / "config" / "local.json").write_text("{}")
    (repo / "config" / "deep").mkdir()
    (repo / "config" / "deep" / "x.json").write_text("[]")
    (repo / "build").mkdir()
    (repo / "README.md").write_text("# changed by the user, not committed\n")
    ws = create_worktree(repo, 5, "copy", worktrees_dir, "main")
    copied = copy_untracked(repo, ws.path, [".env", "config/**/*.json", "README.md", "build", "missing.txt"])
    assert copied == [".env", "config/deep/x.json", "config/local.json"]
    assert (Path(ws.path) / ".env").read_text() == "SECRET=1\n"
    assert (Path(ws.path) / "README.md").read_text() == "# demo\n"  # tracked: the worktree's own
    assert not (Path(ws.path) / "build").exists()  # folders are not copied


@pytest.mark.parametrize(
    ("patterns", "field"),
    [
        ("'.env'", "copy"),
        ([""], "copy[0]"),
        ([".env", "../other/.env"], "copy[1]"),
        (["/etc/passwd"], "copy[0]"),
        (["~/.ssh/id_rsa"], "copy[0]"),
        ([".git/config"], "copy[0]"),
        ([3], "copy[0]"),
    ],
)
def test_copy_patterns_must_stay_inside_the_repository(patterns: object, field: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        validate_copy_patterns(patterns)
    assert info.value.field == field


def test_setup_runs_in_the_worktree_and_returns_its_output(repo: Path, worktrees_dir: Path) -> None:
    ws = create_worktree(repo, 6, "setup", worktrees_dir, "main")
    code = "import os; open('setup-done', 'w').write(os.getcwd()); print('installed', os.environ['EXTRA'])"
    output = run_setup(ws.path, f"{sys.executable} -c \"{code}\"", env={"EXTRA": "yes"})
    assert output == "installed yes"
    assert os.path.samefile((Path(ws.path) / "setup-done").read_text(), ws.path)


def test_a_failing_setup_fails_with_its_output(repo: Path, worktrees_dir: Path) -> None:
    ws = create_worktree(repo, 7, "setup", worktrees_dir, "main")
    code = "import sys; print('resolving packages'); print('E404 left-pad not found', file=sys.stderr); sys.exit(3)"
    with pytest.raises(SetupFailed) as info:
        run_setup(ws.path, f"{sys.executable} -c \"{code}\"")
    assert info.value.exit_code == 3
    assert info.value.output == "resolving packages\nE404 left-pad not found"
    assert "E404 left-pad not found" in str(info.value) and "exit code 3" in str(info.value)


def test_a_setup_program_that_does_not_exist_fails_permanently(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="setup command 'agentq-no-such-tool install'.*program not found"):
        run_setup(tmp_path, "agentq-no-such-tool install")


def test_setup_stops_when_the_task_is_cancelled(tmp_path: Path) -> None:
    cancel = threading.Event()
    started = tmp_path / "started"
    code = f"import time; open({str(started)!r}, 'w').close(); time.sleep(60)"
    def cancel_once_started() -> None:
        wait_until(started.exists, 30, "the setup program started")
        cancel.set()

    timer = threading.Thread(target=cancel_once_started)
    timer.start()
    with pytest.raises(TaskCancelled):
        run_setup(tmp_path, f"{sys.executable} -c \"{code}\"", cancel_event=cancel)
    timer.join()


@pytest.mark.parametrize(("command", "rule"), [
    ("", "must name a program to run (such as 'npm ci')"),
    ("   ", "must name a program to run (such as 'npm ci')"),
    ("npm 'unbalanced", "cannot be read as a command: No closing quotation"),
    (5, "must be a command line as text (got 5)"),
])
def test_setup_commands_are_validated(command: object, rule: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        validate_setup_command(command)
    assert (info.value.field, info.value.rule) == ("setup", rule)
    assert str(info.value) == f"setup: {rule}"


def test_setup_commands_are_split_like_a_shell_but_never_run_by_one() -> None:
    assert validate_setup_command("npm ci --prefix 'my dir' ; rm -rf ~") == [
        "npm", "ci", "--prefix", "my dir", ";", "rm", "-rf", "~",
    ]
