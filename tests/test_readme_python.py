"""The README's Python API example runs as written, in a fresh folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readmes_python_example_runs_as_written(tmp_path: Path, env: dict[str, str]) -> None:
    section = README.read_text().split("## The Python API", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "'completed': 1" in done.stdout
    assert (tmp_path / "queue.db").exists()
