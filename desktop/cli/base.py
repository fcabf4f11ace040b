"""What every command of Cli uses: the parsed options, the output, the queue (opened on first use) and
the ways to print a result or a refusal. The command mixins build on it, so each sees these once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TextIO

from desktop import formatting
from desktop.errors import NotFoundError, TaskStateError
from desktop.queue import Task, TaskQueueService


class CliBase:
    """The options, output and queue that the commands share."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self._service: TaskQueueService | None = None

    @property
    def service(self) -> TaskQueueService:
        if self._service is None:
            from desktop.bootstrap import open_queue

            self._service = open_queue(self.args.db)
        return self._service

    def close(self) -> None:
        if self._service is not None:
            self._service.close()

    def print(self, text: str) -> None:
        if text:
            print(text, file=self.out)

    def emit(self, value: Any, text: Callable[[], str]) -> None:
        self.print(formatting.dumps(value) if self.args.json else text())

    @staticmethod
    def complain(message: str, kind: str = "error") -> None:
        print(f"agentq: {kind}: {message}", file=sys.stderr)

    def _each(self, action: Callable[[int], Task], describe: Callable[[Task], str]) -> int:
        """Apply `action` to every id given; refusals go to stderr, one line each, and exit 1."""
        done: list[Task] = []
        refused = 0
        for number in dict.fromkeys(self.args.ids):
            try:
                done.append(action(number))
            except (NotFoundError, TaskStateError) as exc:
                self.complain(str(exc))
                refused += 1
        self.emit(done, lambda: "\n".join(describe(t) for t in done))
        return 1 if refused else 0

    def _pool_options(self) -> dict[str, Any]:
        a = self.args
        return {"concurrency": a.concurrency, "poll_interval_s": a.poll_interval}
