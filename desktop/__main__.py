"""`python -m desktop` and the `agentq` entry point (the bundle uses the same one)."""

from __future__ import annotations

import sys

from desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
