"""run_app starts and quits cleanly, and a database it cannot open is explained, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from desktop.config import Settings
from desktop.ui import app as app_module

ROOT = Path(__file__).resolve().parents[2]


def _run_app(url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    code = f"from desktop.ui.app import run_app; raise SystemExit(run_app(database={url!r}))"
    environ = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "xdg"), **env)
    return subprocess.run([sys.executable, "-c", code], env=environ, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_run_app_shows_the_window_and_takes_a_screenshot(db_url: str, tmp_path: Path) -> None:
    shot = tmp_path / "window.png"
    done = _run_app(db_url, tmp_path, AGENTQ_SCREENSHOT=str(shot))
    assert done.returncode == 0, done.stderr
    assert shot.stat().st_size > 10_000
    assert "Traceback" not in done.stderr


def test_a_file_that_is_not_a_database_is_explained(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("these are my notes, not a database\n" * 100)
    done = _run_app(f"sqlite:///{bad}", tmp_path, AGENTQ_SCREENSHOT=str(tmp_path / "never.png"))
    assert done.returncode == 1
    assert f"cannot open the database {bad}" in done.stderr
    assert "What to do" in done.stderr
    assert "Traceback" not in done.stderr
    assert bad.read_text().startswith("these are my notes")  # left untouched


def test_the_open_error_box_names_the_file_and_what_to_do(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[QMessageBox] = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box) or 0)
    bad = tmp_path / "queue.db"
    bad.write_text("not sqlite" * 500)
    assert app_module.open_service(f"sqlite:///{bad}", Settings()) is None
    assert len(shown) == 1
    box = shown[0]
    assert str(bad) in box.text()
    assert "not a usable Agent Queue database" in box.informativeText()
    assert "--db" in box.informativeText()
