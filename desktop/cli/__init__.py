"""The `agentq` command line: everything the window does, headless, and the HTTP API server.

`agentq` alone opens the window. Errors are one line on stderr with a non-zero exit code:
2 for input that breaks a rule (usage errors included), 1 for anything else. Modules:
`arguments` (types and the parser), `commands` (the queue's commands), `api_commands` (serve,
token, hooks), `coding_arguments` and `coding_commands` (repos, diff, coding-agent presets).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

from desktop.cli.arguments import NO_JSON, build_parser, log_level
from desktop.cli.commands import Cli
from desktop.config import load_settings
from desktop.errors import AgentQueueError, TaskValidationError
from desktop.private_files import private_dir

__all__ = ["build_parser", "main"]
log = logging.getLogger(__name__)
ENV_LOG_LEVEL = "LOG_LEVEL"  # read by the long-running commands, as their users expect
LONG_RUNNING = frozenset({"worker", "serve"})


def database_option(db: str | None, create: bool) -> str | None:
    """--db as a URL: a plain path means a SQLite file. A folder that does not exist needs `create`."""
    if db is None:
        return None
    if "://" not in db:
        if not db.strip():
            raise TaskValidationError("db", "must be a database URL or a file path, not empty")
        db = f"sqlite:///{Path(db).expanduser().resolve()}"
    try:
        url = make_url(db)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's parse errors vary
        raise TaskValidationError("db", "is not a database URL such as sqlite:///path/queue.db") from exc
    if url.get_backend_name() == "sqlite" and url.database and not url.database.startswith(("file:", ":memory:")):
        folder = Path(url.database).expanduser().resolve().parent
        if not folder.exists():
            if not create:
                raise TaskValidationError(
                    "db", f"the folder {folder} does not exist; check the path, or pass --create to create it"
                )
            private_dir(folder)
    return db


def _level(args: argparse.Namespace, default: str) -> str:
    if args.log_level:
        return args.log_level
    from_env = os.environ.get(ENV_LOG_LEVEL) if args.command in LONG_RUNNING else None
    if from_env:
        try:
            return log_level(from_env)
        except argparse.ArgumentTypeError as exc:
            raise TaskValidationError(ENV_LOG_LEVEL, str(exc)) from None
    return default


def _drop_stdout() -> None:
    """Point stdout at the null device, so that the flush at exit does not fail again.

    Catching the error instead of restoring SIGPIPE's default keeps `agentq worker` and
    `agentq serve` alive when a socket's peer goes away (and leaves a caller's process as it was).
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.json and args.command in NO_JSON:
        parser.error(f"--json: agentq {args.command} has no JSON output")
    from desktop.logs import setup_logging

    try:
        args.db = database_option(args.db, args.create)
        settings = load_settings()
        setup_logging(_level(args, settings.log_level), stderr=args.command in LONG_RUNNING)
    except TaskValidationError as exc:
        print(f"agentq: error: {exc}", file=sys.stderr)
        return 2
    except (AgentQueueError, OSError) as exc:
        print(f"agentq: error: {exc}", file=sys.stderr)
        return 1
    if args.command is None:
        from desktop.ui.app import run_app

        return run_app(database=args.db)
    cli = Cli(args, out or sys.stdout)
    handler = getattr(cli, "cmd_" + args.command.replace("-", "_"))
    try:
        return handler()
    except BrokenPipeError:  # `agentq list | head`: the reader has gone, so end quietly
        _drop_stdout()
        return 1
    except TaskValidationError as exc:
        print(f"agentq: error: {exc}", file=sys.stderr)
        return 2
    except AgentQueueError as exc:
        print(f"agentq: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"agentq: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback in the log
        log.exception("agentq %s failed", args.command)
        print(f"agentq: error: {type(exc).__name__}: {exc} (details in the log file)", file=sys.stderr)
        return 1
    finally:
        cli.close()
