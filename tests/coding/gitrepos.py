"""Real git repositories for the coding tests: a user's clone, a bare remote, small helpers, and the
fixtures `git_identity` and `repo` (the coding and the window tests' conftests import them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FAKES = Path(__file__).resolve().parents[1] / "fakes"


def git(repo: Path | str, *args: str) -> str:
    """Run git in `repo` (it must succeed) and return its stripped stdout."""
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout.strip()


def commit_file(repo: Path, relative: str, text: str, message: str | None = None) -> str:
    """Write `relative`, commit it, return the new commit id."""
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(repo, "add", "--", relative)
    git(repo, "commit", "-q", "-m", message or f"change {relative}")
    return git(repo, "rev-parse", "HEAD")


def make_repo(path: Path) -> Path:
    """A repository on `main` with a README, a source file, and `.env` and `build/` ignored."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# demo\n")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("def main():\n    return 1\n")
    (path / ".gitignore").write_text(".env\nbuild/\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def add_origin(repo: Path, bare: Path) -> Path:
    """A new bare repository at `bare` as `repo`'s origin, nothing pushed to it yet."""
    git(bare.parent, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    return bare


def isolate_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A global git config of the test's own: an identity, `main` as the first branch, no system config."""
    config = tmp_path_factory.mktemp("gitconfig") / "config"
    config.write_text("[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def git_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's own git config (see isolate_git)."""
    isolate_git(tmp_path_factory, monkeypatch)


@pytest.fixture
def repo(git_identity: None, tmp_path: Path) -> Path:
    """A user's repository (see make_repo) in the test's folder, with the test's own git config."""
    return make_repo(tmp_path / "repo")


def install_program(bin_dir: Path, name: str, script: Path) -> Path:
    """Put `name` on a PATH folder: a wrapper running the Python `script` with this interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / name
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def prepend_path(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
