"""Where Agent Queue keeps its database, logs and settings: the only caller of platformdirs.

The data, log and config folders are created private to the user (0700) when first asked for.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from platformdirs import PlatformDirs

from desktop.private_files import private_dir

log = logging.getLogger(__name__)

APP_NAME = "agent-queue"
_dirs = PlatformDirs(APP_NAME, appauthor=False)


def data_dir() -> Path:
    return _private(os.environ.get("AGENTQ_DATA_DIR") or _dirs.user_data_dir)


def log_dir() -> Path:
    return _private(os.environ.get("AGENTQ_LOG_DIR") or _dirs.user_log_dir)


def config_dir() -> Path:
    return _private(os.environ.get("AGENTQ_CONFIG_DIR") or _dirs.user_config_dir)


def archive_dir() -> Path:
    """Where retention archives finished tasks (gzip JSON Lines) before deleting them."""
    return data_dir() / "archive"


def default_database_url() -> str:
    """AGENTQ_DATABASE_URL, or queue.db in the user data folder."""
    return os.environ.get("AGENTQ_DATABASE_URL") or f"sqlite:///{data_dir() / 'queue.db'}"


def resource_dir(name: str) -> Path:
    """A folder shipped beside the package (alembic/, packaging/): in a checkout or a frozen bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    root = Path(bundle) if bundle else Path(__file__).resolve().parents[1]
    return root / name


def _private(folder: str) -> Path:
    """The folder, created 0700 (or tightened) when possible. When it cannot be, whoever writes
    there next reports that, naming the folder and what to do."""
    path = Path(folder)
    try:
        private_dir(path)
    except OSError as exc:
        log.debug("cannot make %s private: %s", path, exc)
    return path
