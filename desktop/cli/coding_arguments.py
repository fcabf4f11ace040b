"""The command line's arguments for coding agents: `agentq repos`, `agentq diff`, and the options
`agents add/update` and `enqueue` take for coding agents (presets, repositories, prompts)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from desktop.agents.coding import PRESETS
from desktop.queue.types import REPO_MODES

KINDS_HELP = f"command, http, python, echo, sleep, fail, a coding agent ({', '.join(PRESETS)}), or a plugin's"


def coding_agent_options(cmd: argparse.ArgumentParser) -> None:
    """`agents add/update`: a coding agent's settings, each also a key of --config."""
    cmd.add_argument("--model", help="coding agents: the model, e.g. sonnet")
    cmd.add_argument("--max-turns", type=int, help="claude: stop after this many turns")
    cmd.add_argument("--max-budget-usd", type=float, metavar="X", help="claude: stop a run past this cost")
    cmd.add_argument("--extra-arg", action="append", metavar="A",
                     help="coding agents: one more argument for the program (repeat; --extra-arg=--flag for a dash)")
    cmd.add_argument("--cli", metavar="PATH", help="coding agents: the program to run (default: its usual name)")
    cmd.add_argument("--daily-budget-usd", type=float, metavar="X",
                     help="pause the agent until the next local day once its attempts cost this much today")


def enqueue_options(enqueue: argparse.ArgumentParser, task_id: Callable[[str], int]) -> None:
    enqueue.add_argument("--repo", help="the registered repository it works on: a name, path or URL (agentq repos add)")
    enqueue.add_argument("--prompt", help="what a coding agent should do (payload.prompt)")
    enqueue.add_argument("--follow-up", type=task_id, metavar="ID",
                         help="continue task ID after it completes: its worktree, branch and session")


def repo_commands(
    command: Callable[[str, str], argparse.ArgumentParser],
    parser_class: type[argparse.ArgumentParser],
    with_json: argparse.ArgumentParser,
    *,
    duration: Callable[[str], float],
    positive_int: Callable[[str], int],
    task_id: Callable[[str], int],
) -> None:
    repos = command("repos", "repositories coding agents work on: add, list, show, update, remove, prune")
    sub = repos.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    sub.add_parser("list", help="every repository with its mode and workspaces", parents=[with_json])
    add = sub.add_parser("add", help="register a local clone, or a URL (cloned once into the data folder)",
                         parents=[with_json])
    add.add_argument("source", metavar="PATH_OR_URL", help="a git clone's top folder, or a URL git can clone")
    add.add_argument("--name", help="what tasks call it (default: the folder's or URL's last part)")
    for cmd in (add, update := sub.add_parser("update", help="change a repository's settings", parents=[with_json])):
        if cmd is update:
            cmd.add_argument("name", help="repository name")
        cmd.add_argument("--mode", choices=REPO_MODES,
                         help="worktree (default): a worktree and branch per task; in-place: in the clone, one at a time")
        cmd.add_argument("--max-parallel", type=positive_int, metavar="N",
                         help="worktree mode: at most N of its tasks at once (default 1)")
        cmd.add_argument("--base", help="the branch new work starts from (default: the repository's default branch)")
        cmd.add_argument("--setup", metavar="COMMAND", help="run in each new workspace first, e.g. 'npm ci'")
        cmd.add_argument("--copy", action="extend", nargs="+", metavar="PATTERN",
                         help="untracked files to copy into each worktree, e.g. .env")
        flag = argparse.BooleanOptionalAction if cmd is update else "store_true"
        default = None if cmd is update else False
        cmd.add_argument("--push", action=flag, default=default, help="push the branch after a successful run")
        cmd.add_argument("--open-pr", action=flag, default=default,
                         help="then open a pull request with the GitHub CLI (gh), when installed")
        cmd.add_argument("--commit-uncommitted", action=flag, default=default,
                         help="commit what the agent left uncommitted, with the prompt as message")
    sub.add_parser("show", help="a repository, its settings and its workspaces", parents=[with_json]).add_argument(
        "name", help="repository name"
    )
    remove = sub.add_parser("remove", help="forget a repository (its folder stays)", parents=[with_json])
    remove.add_argument("name", help="repository name")
    remove.add_argument("--delete-clone", action="store_true",
                        help="also delete the app's clone of its URL (refused while it holds unpushed work)")
    prune = sub.add_parser("prune", help="remove worktrees of finished tasks that hold no unsaved work",
                           parents=[with_json])
    prune.add_argument("name", nargs="?", help="only this repository's")
    prune.add_argument("--older-than", type=duration, default=7 * 86_400.0,
                       help="tasks finished longer ago than this (default 7d)")
    prune.add_argument("--force", action="store_true",
                       help="also those with uncommitted changes or unpushed commits (they are lost)")
    prune.add_argument("--delete-branches", action="store_true",
                       help="also delete their agentq/ branches (only ones merged or pushed, unless --force)")
    command("diff", "the patch of a task's last attempt (what it changed since its base commit)").add_argument(
        "id", type=task_id, help="task id"
    )
