"""The freedesktop launcher validates, and install-desktop-entry registers it for the user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
needs_validator = pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None,
    reason="desktop-file-validate is missing: run scripts/system-deps.sh (package desktop-file-utils)",
)


@needs_validator
def test_the_shipped_launcher_validates() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(REPO / "packaging" / "agent-queue.desktop")], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout


@needs_validator
def test_install_desktop_entry_registers_launcher_and_icons(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "desktop", "install-desktop-entry"], env=env, capture_output=True, text=True, check=True
    ).stdout
    entry = tmp_path / "applications" / "agent-queue.desktop"
    assert f"installed {entry}" in out
    validated = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout
    exec_line = next(line for line in entry.read_text().splitlines() if line.startswith("Exec="))
    program = Path(exec_line.removeprefix("Exec=").strip('"'))
    assert program.is_absolute() and os.access(program, os.X_OK)
    for size in (16, 48, 256):
        assert (tmp_path / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "agent-queue.png").is_file()
    subprocess.run(
        [sys.executable, "-m", "desktop", "install-desktop-entry", "--uninstall"], env=env, check=True, capture_output=True
    )
    assert not entry.exists()
