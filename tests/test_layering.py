"""The queue core must run headless: importing it loads no Qt at all."""

from __future__ import annotations

import subprocess
import sys


def test_queue_core_imports_no_qt() -> None:
    code = (
        "import sys, desktop.queue, desktop.queue.service, desktop.queue.retry, desktop.queue.models\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'qasync')))\n"
        "print(','.join(qt))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the queue core loaded Qt modules: {out.stdout}"
