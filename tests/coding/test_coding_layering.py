"""The workspaces and coding-agent packages run headless: importing them loads no Qt."""

from __future__ import annotations

import subprocess
import sys


def test_workspaces_and_coding_agents_import_no_qt() -> None:
    code = (
        "import sys, desktop.workspaces, desktop.agents.coding, desktop.agents.process\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'qasync', 'desktop.ui')))\n"
        "print(','.join(qt))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"loaded Qt or UI modules: {out.stdout}"
