"""`agentq install-desktop-entry`: put Agent Queue in the user's applications menu (freedesktop)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from desktop.paths import resource_dir

APP_ID = "agent-queue"


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launcher_command() -> str:
    """How the menu entry starts the app: the bundle's executable, or this install's agentq."""
    if getattr(sys, "frozen", False):
        return str(Path(sys.executable).resolve())
    sibling = Path(sys.executable).with_name("agentq")  # the agentq of this very install
    return str((sibling if sibling.exists() else Path(shutil.which("agentq") or sibling)).absolute())


def install() -> list[Path]:
    """Write the .desktop file and the icons for the current user; returns what was written."""
    packaging = resource_dir("packaging")
    entry = (packaging / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    command = launcher_command()
    quoted = f'"{command}"' if " " in command else command
    entry = entry.replace("Exec=agentq", f"Exec={quoted}")
    written = []
    target = _data_home() / "applications" / f"{APP_ID}.desktop"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(entry, encoding="utf-8")
    written.append(target)
    icons = _data_home() / "icons" / "hicolor"
    for png in sorted((packaging / "icons").glob(f"{APP_ID}-*.png")):
        size = png.stem.rsplit("-", 1)[1]
        dest = icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, dest)
        written.append(dest)
    svg = icons / "scalable" / "apps" / f"{APP_ID}.svg"
    svg.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(packaging / "icons" / f"{APP_ID}.svg", svg)
    written.append(svg)
    _refresh_caches()
    return written


def uninstall() -> list[Path]:
    removed = []
    candidates = [_data_home() / "applications" / f"{APP_ID}.desktop"]
    candidates += list((_data_home() / "icons" / "hicolor").glob(f"*/apps/{APP_ID}.*"))
    for path in candidates:
        if path.exists():
            path.unlink()
            removed.append(path)
    _refresh_caches()
    return removed


def _refresh_caches() -> None:
    """Tell the desktop about the change, where the usual tools exist (they are optional)."""
    for command in (["update-desktop-database", str(_data_home() / "applications")],
                    ["gtk-update-icon-cache", "-q", "-t", str(_data_home() / "icons" / "hicolor")]):
        if shutil.which(command[0]):
            subprocess.run(command, check=False, capture_output=True)
