#!/usr/bin/env python3
"""Regenerate docs/screenshots from a real run, as a new user would get it.

In a throwaway home: a small git repository with a bare remote, registered with `agentq repos
add`; the agent `coder` running the fake Claude Code of tests/fakes (a real program that speaks
stream-json and really edits and commits); a few coding tasks (one committed and followed up, one
left uncommitted, one that fails) and some command tasks, run by `agentq worker --burst`; a
command task that fails once and is retried to success (its failure stays in the statistics);
tasks left waiting (one scheduled in two hours, one after it). Then the window is grabbed
offscreen (a virtual screen of the shot's size) at 1600x1000 and 1024x700, light and dark: the
main window, a coding task's transcript and diff, the Repositories tab, a waiting task's details.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAKE_CLAUDE = ROOT / "tests" / "fakes" / "fake_claude.py"
SIZES = ((1600, 1000, ""), (1024, 700, "-1024x700"))
VIEWS = (("", "main-window"), ("transcript", "coding-transcript"), ("diff", "coding-diff"),
         ("repos", "repositories"), ("waiting", "waiting-task"))
TASKS = (
    "Add a --version flag to the command line\n\nPrint the package version and exit 0. [commit]",
    "Fix the failing test in tests/test_app.py",
    "Refactor the settings loader into its own module [fake:max-turns]",
)
FOLLOW_UP = "Now mention --version in the README [commit]"


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def make_repository(home: Path, env: dict[str, str]) -> Path:
    repo = home / "src" / "app"
    (repo / "src").mkdir(parents=True)
    (repo / "README.md").write_text("# app\n\nA small command line tool.\n")
    (repo / "src" / "cli.py").write_text("import sys\n\n\ndef main() -> int:\n    print(sys.argv)\n    return 0\n")
    bare = home / "remote" / "app.git"
    for argv in (["git", "init", "-q", "-b", "main", str(repo)], ["git", "init", "-q", "--bare", str(bare)]):
        run(argv, env)
    for argv in (["git", "add", "-A"], ["git", "commit", "-q", "-m", "initial"],
                 ["git", "remote", "add", "origin", str(bare)], ["git", "push", "-q", "-u", "origin", "main"]):
        run(argv, env, cwd=repo)
    return repo


def prepare(home: Path) -> dict[str, str]:
    """The home, its repository, agents and tasks, run to their end; the environment to use."""
    (home / "gitconfig").write_text("[user]\n\tname = A. Developer\n\temail = dev@example.com\n")
    env = {
        **os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "xdg"),
        "AGENTQ_DATA_DIR": str(home / "data"), "AGENTQ_CONFIG_DIR": str(home / "config"),
        "AGENTQ_LOG_DIR": str(home / "logs"), "GIT_CONFIG_GLOBAL": str(home / "gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1", "FAKE_AGENT_DELAY_S": "0.3",
    }
    env.pop("AGENTQ_DATABASE_URL", None)
    repo = make_repository(home, env)
    claude = home / "bin" / "claude"
    claude.parent.mkdir()
    claude.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLAUDE}" "$@"\n')
    claude.chmod(0o755)
    agentq = [sys.executable, "-m", "desktop"]
    run([*agentq, "repos", "add", str(repo)], env)
    run([*agentq, "agents", "add", "coder", "claude", "--cli", str(claude), "--model", "sonnet"], env)
    run([*agentq, "agents", "add", "echo", "command", "--config", json.dumps({"argv": ["echo", "{msg}"]})], env)
    ids = [json.loads(run([*agentq, "enqueue", "coder", "--repo", "app", "--prompt", p, "--json"], env))[0]["id"]
           for p in TASKS]
    run([*agentq, "enqueue", "coder", "--follow-up", str(ids[0]), "--prompt", FOLLOW_UP], env)
    for n in range(1, 13):
        run([*agentq, "enqueue", "echo", "--payload", json.dumps({"msg": f"report {n}"}), "--priority", str(n % 5 + 1)],
            env)
    flaky = ["sh", "-c", 'test -e "$0" || {{ touch "$0"; echo "first run fails on purpose" >&2; exit 1; }}', "{marker}"]
    run([*agentq, "agents", "add", "flaky", "command", "--config", json.dumps({"argv": flaky}), "--max-retries", "0"],
        env)
    retried = json.loads(run([*agentq, "enqueue", "flaky", "--payload", json.dumps({"marker": str(home / "marker")}),
                              "--json"], env))[0]["id"]
    run([*agentq, "worker", "--burst"], env)
    run([*agentq, "retry", str(retried)], env)
    run([*agentq, "worker", "--burst"], env)
    later = json.loads(run([*agentq, "enqueue", "echo", "--payload", json.dumps({"msg": "nightly report"}),
                            "--in", "2h", "--json"], env))[0]["id"]
    run([*agentq, "enqueue", "echo", "--payload", json.dumps({"msg": "after the nightly report"}),
         "--depends-on", str(later)], env)
    return env


def shoot(env: dict[str, str], out: Path, home: Path) -> list[Path]:
    shots = []
    for width, height, suffix in SIZES:
        screen = home / f"screen-{width}.json"
        screen.write_text(json.dumps({"screens": [
            {"name": "shot", "x": 0, "y": 0, "width": width, "height": height, "logicalDpi": 96,
             "logicalBaseDpi": 96, "dpr": 1}]}))
        for scheme in ("light", "dark"):
            for view, name in VIEWS:
                path = out / f"{name}{suffix}{'-dark' if scheme == 'dark' else ''}.png"
                shot_env = {**env, "XDG_CONFIG_HOME": str(home / f"xdg-{path.stem}"),  # no layout carried over
                            "QT_QPA_PLATFORM": f"offscreen:configfile={screen}", "AGENTQ_SCREENSHOT": str(path),
                            "AGENTQ_SCREENSHOT_SIZE": f"{width}x{height}", "AGENTQ_SCREENSHOT_VIEW": view,
                            "AGENTQ_COLOR_SCHEME": scheme}
                run([sys.executable, "-m", "desktop"], shot_env)
                shots.append(path)
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agentq-shots-") as tmp:
        home = Path(tmp)
        env = prepare(home)
        shoot(env, args.out.resolve(), home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
