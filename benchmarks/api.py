"""HTTP API benchmark: enqueues over real HTTP beside the same enqueues straight into the service.

Run: `.venv/bin/python benchmarks/api.py [--tasks 2000]`. A uvicorn server runs on 127.0.0.1 in a
thread of this process; one keep-alive httpx client sends the requests. Prints requests/s for
POST /tasks (one task each), GET /health and GET /tasks?limit=50, tasks/s for POST /tasks with
lists of 500, and each enqueue rate as a ratio of `service.enqueue` / `enqueue_many` on the same
kind of database in the same run (the cost of HTTP, JSON and the thread hop).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from desktop.api.credentials import TokenStore
from desktop.api.server import RunningApi, start_api
from desktop.bootstrap import open_queue
from desktop.config import PROFILES
from desktop.queue import TaskQueueService

BATCH = 500


def rate(count: int, run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def serve(service: TaskQueueService) -> tuple[str, Callable[[], None]]:
    ready, stop = threading.Event(), threading.Event()
    box: dict[str, RunningApi] = {}

    async def run() -> None:
        box["api"] = await start_api(service, PROFILES["production"], host="127.0.0.1", port=0)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await box["api"].stop()

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    ready.wait(30)

    def finish() -> None:
        stop.set()
        thread.join(30)

    return box["api"].url, finish


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    n = parser.parse_args().tasks
    with tempfile.TemporaryDirectory() as folder:
        os.environ["AGENTQ_CONFIG_DIR"] = folder  # the token goes there, not into the user's config
        direct = open_queue(f"sqlite:///{Path(folder) / 'direct.db'}")
        direct.add_agent("noop", "echo")

        def enqueue_direct() -> None:
            for i in range(n):
                direct.enqueue("noop", {"i": i})

        def enqueue_many_direct() -> None:
            for _ in range(n // BATCH):
                direct.enqueue_many([{"agent": "noop"}] * BATCH)

        one_direct, many_direct = rate(n, enqueue_direct), rate(n, enqueue_many_direct)
        direct.close()

        service = open_queue(f"sqlite:///{Path(folder) / 'api.db'}")
        service.add_agent("noop", "echo")
        url, finish = serve(service)
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TokenStore().current()}"}, timeout=60)

        def requests(method: str, path: str, times: int, **options: object) -> Callable[[], None]:
            def run() -> None:
                for _ in range(times):
                    client.request(method, path, **options).raise_for_status()  # type: ignore[arg-type]
            return run

        one_api = rate(n, requests("POST", "/tasks", n, json={"agent": "noop", "payload": {"i": 1}}))
        many_api = rate(n, requests("POST", "/tasks", n // BATCH, json=[{"agent": "noop"}] * BATCH))
        health = rate(n, requests("GET", "/health", n))
        listing = rate(n, requests("GET", "/tasks", n, params={"limit": 50}))
        client.close()
        finish()
        assert service.count_tasks() == n + n // BATCH * BATCH, service.count_tasks()
        service.close()
    print(f"POST /tasks, one task each:  {one_api:8,.0f} req/s   (service.enqueue {one_direct:8,.0f}/s; "
          f"ratio {one_api / one_direct:.2f})")
    print(f"POST /tasks, lists of {BATCH}:  {many_api:8,.0f} tasks/s (enqueue_many {many_direct:8,.0f}/s; "
          f"ratio {many_api / many_direct:.2f})")
    print(f"GET /health:                 {health:8,.0f} req/s")
    print(f"GET /tasks?limit=50:         {listing:8,.0f} req/s")


if __name__ == "__main__":
    main()
