"""The queue core, the workspaces and the coding-agent packages run headless: importing them loads no
Qt and no window code."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("modules", [
    "desktop.queue, desktop.queue.service, desktop.queue.retry, desktop.queue.models",
    "desktop.workspaces, desktop.agents.coding, desktop.agents.process",
])
def test_headless_packages_import_no_qt(modules: str) -> None:
    code = (
        f"import sys, {modules}\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'qasync', 'desktop.ui')))\n"
        "print(','.join(qt))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {modules} loaded Qt or UI modules: {out.stdout}"
