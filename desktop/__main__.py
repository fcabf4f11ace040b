"""`python -m desktop` and the `agentq` entry point (the bundle uses the same one)."""

from __future__ import annotations

import sys

from desktop.agents import supervise
from desktop.cli import main

if __name__ == "__main__":
    if sys.argv[1:2] == [supervise.BUNDLE_FLAG]:  # a frozen bundle has no Python to run supervise.py with
        sys.exit(supervise.main())
    sys.exit(main())
