"""The API's routes: health, metrics, tasks, queue control and inbound webhooks.

Every route but /health needs `Authorization: Bearer TOKEN` (the token `agentq token` prints);
/hooks/NAME accepts a valid X-Hub-Signature-256 instead when the hook has a secret. The OpenAPI
docs (/docs, /openapi.json) are served to loopback clients only. Errors are JSON with a `detail`;
input that breaks a rule is 422 with the `field` and the `rule` too, exactly as the CLI reports it.
Handlers call the service on a worker thread, so a slow write never blocks the event loop.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware

from desktop import __version__, formatting
from desktop.api.binding import is_loopback
from desktop.api.credentials import HookSecrets, TokenStore
from desktop.api.health import health, worker_json
from desktop.api.limits import MAX_BODY_BYTES, BodyLimit, BodyTooLarge
from desktop.api.tracking import InsertedTasks
from desktop.api.webhooks import SIGNATURE_HEADER, SecretUnavailable, hook_secret, signed_by
from desktop.config import Settings
from desktop.errors import (
    DatabaseFileError,
    LeaseLostError,
    NotFoundError,
    QueueFullError,
    TaskStateError,
    TaskValidationError,
)
from desktop.queue import Task, TaskQueueService, TaskStatus
from desktop.queue import hooks as hook_store
from desktop.queue import validation as check
from desktop.queue.new_task import REQUIRED, TASK_FIELDS

if TYPE_CHECKING:
    from desktop.workers.pool import WorkerPool

log = logging.getLogger(__name__)
MAX_LIST_LIMIT = 1000
TaskId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a task id")]
_JSON_SCHEMA_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"}, "json": {},
    "datetime": {"type": "string", "format": "date-time"}, "url": {"type": "string", "format": "uri"},
    "ids": {"type": "array", "items": {"type": "integer"}}, "bool": {"type": "boolean"},
}
# The request body's schema, from the one description of a new task the service validates with.
_TASK_FIELDS = {
    "type": "object",
    "required": [f.name for f in TASK_FIELDS if f.default is REQUIRED],
    "properties": {f.name: {**_JSON_SCHEMA_TYPES[f.type], "description": f.help} for f in TASK_FIELDS},
}
_ENQUEUE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [_TASK_FIELDS, {"type": "array", "items": _TASK_FIELDS}],
}}}}}


def task_json(task: Task) -> dict[str, Any]:
    """A task as the API shows it: the CLI's JSON (a task carries no lease token)."""
    value: dict[str, Any] = formatting.to_jsonable(task)
    return value


def create_app(
    service: TaskQueueService,
    settings: Settings,
    *,
    tokens: TokenStore,
    hook_secrets: HookSecrets | None = None,
    pool: WorkerPool | None = None,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The ASGI app over `service`; `pool` is the worker pool of this process, if it runs one."""
    app = FastAPI(
        title="Agent Queue", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
        description="A durable queue of work for local agents. Authorize with the token `agentq token` prints.",
    )
    tokens.current()  # made at the first start, so `agentq token` shows the one in force
    secrets = hook_secrets or HookSecrets()
    inserted = InsertedTasks(service)
    bearer = HTTPBearer(auto_error=False, description="the token `agentq token` prints")

    def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if credentials is None or not tokens.accepts(credentials.credentials):
            raise HTTPException(
                401, "missing or wrong bearer token (see `agentq token`)", headers={"WWW-Authenticate": "Bearer"}
            )

    def enqueue_tracked(items: list[dict[str, Any]], single: bool) -> tuple[list[Task], set[int]]:
        with inserted.track() as new:
            tasks = [service.enqueue(**items[0])] if single else service.enqueue_many(items)
        return tasks, new

    _error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    # -- open to anyone who can connect ---------------------------------------------------------

    @app.get("/health", tags=["status"], summary="Whether the database answers; counts, polling, workers")
    async def get_health() -> JSONResponse:
        status, body = await run_in_threadpool(health, service, settings, pool)
        return JSONResponse(body, status_code=status)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        _loopback_only(request)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        _loopback_only(request)
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Agent Queue API")

    # -- tasks and queue control (bearer token) -------------------------------------------------

    api = APIRouter(dependencies=[Depends(require_token)])

    @api.get("/metrics", tags=["status"], response_class=PlainTextResponse, summary="Prometheus text format")
    async def metrics() -> PlainTextResponse:
        text = await run_in_threadpool(formatting.metrics, service)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @api.post("/tasks", tags=["tasks"], status_code=201, openapi_extra=_ENQUEUE_BODY,
              summary="Enqueue one task (an object) or many (a list, all or nothing)")
    async def enqueue(request: Request) -> JSONResponse:
        body = await _json_body(request)
        if isinstance(body, dict):  # the service names an unknown field or a bad value
            if "agent" not in body:
                raise TaskValidationError("agent", "is required")
            [task], new = await run_in_threadpool(enqueue_tracked, [{"created_by": "api", **body}], True)
            return JSONResponse({"task": task_json(task), "created": task.id in new}, 201 if new else 200)
        if isinstance(body, list):
            items = [{"created_by": "api", **item} if isinstance(item, dict) else item for item in body]
            tasks, new = await run_in_threadpool(enqueue_tracked, items, False)
            return JSONResponse(
                {"tasks": [task_json(t) for t in tasks], "created": sorted(new)}, 201 if new else 200
            )
        raise TaskValidationError("body", "must be a task (a JSON object) or a list of tasks")

    @api.get("/tasks", tags=["tasks"], summary="Tasks, newest first")
    async def list_tasks(
        status: list[str] | None = Query(None, description="repeat, or separate with commas"),
        agent: str | None = None,
        search: str | None = None,
        limit: int = Query(50, description=f"1 to {MAX_LIST_LIMIT}"),
        before_id: int | None = Query(None, description="the last id of the previous page"),
    ) -> list[dict[str, Any]]:
        statuses = _statuses(status)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise TaskValidationError("limit", f"must be a whole number from 1 to {MAX_LIST_LIMIT} (got {limit})")
        if agent is not None:
            check.label("agent", agent)
        tasks = await run_in_threadpool(
            service.list_tasks, status=statuses, agent=agent, search=search, limit=limit, before_id=before_id
        )
        return [task_json(t) for t in tasks]

    @api.get("/tasks/{task_id}", tags=["tasks"],
             summary="A task with its attempts, dependencies and, while it waits, why")
    async def get_task(task_id: TaskId) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            task = service.get(task_id)
            return {
                "task": task_json(task),
                "attempts": formatting.to_jsonable(service.attempts(task_id)),
                "depends_on": service.dependencies(task_id),
                "waiting": service.wait_reasons([task]).get(task_id),
            }

        return await run_in_threadpool(read)

    @api.post("/tasks/{task_id}/retry", tags=["tasks"],
              summary='Run a failed, cancelled or retrying task again; body {"payload": ...} to edit it')
    async def retry(task_id: TaskId, request: Request) -> dict[str, Any]:
        body = await _json_body(request, optional=True)
        if not isinstance(body, dict) or set(body) - {"payload"}:
            raise TaskValidationError("body", 'must be empty or {"payload": ...}')
        return task_json(await run_in_threadpool(service.retry, task_id, **body))

    @api.post("/tasks/retry", tags=["tasks"],
              summary='Retry every task that matches: body {"status": ["failed"], "agent": NAME}')
    async def retry_matching(request: Request) -> dict[str, Any]:
        body = await _json_body(request, optional=True)
        if not isinstance(body, dict) or set(body) - {"status", "agent"}:
            raise TaskValidationError("body", 'must be empty or {"status": [...], "agent": NAME}')
        status = body.get("status", "failed")
        if not isinstance(status, (str, list)) or not status:
            raise TaskValidationError("status", "must be a status or a list of them")
        report = await run_in_threadpool(service.retry_matching, status, body.get("agent"))
        return {"retried": [task_json(t) for t in report.retried],
                "refused": [{"id": i, "detail": why} for i, why in report.refused.items()]}

    @api.post("/tasks/{task_id}/process", tags=["tasks"],
              summary="Run a waiting task next: ready now, priority 5, ahead of every other ready task")
    async def process(task_id: TaskId) -> dict[str, Any]:
        task = await run_in_threadpool(service.run_now, task_id)
        if pool is not None:
            pool.wake()
        return task_json(task)

    @api.post("/tasks/{task_id}/priority", tags=["tasks"], summary='Change a waiting task\'s priority: {"priority": 1-5}')
    async def set_priority(task_id: TaskId, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        if not isinstance(body, dict) or set(body) != {"priority"}:
            raise TaskValidationError("body", 'must be {"priority": N}')
        return task_json(await run_in_threadpool(service.set_priority, task_id, body["priority"]))

    @api.post("/tasks/{task_id}/move", tags=["tasks"],
              summary='First or last among the ready tasks of its priority: {"position": "top" | "bottom"}')
    async def move(task_id: TaskId, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        if not isinstance(body, dict) or body.get("position") not in ("top", "bottom") or len(body) != 1:
            raise TaskValidationError("position", 'must be "top" or "bottom" (body {"position": "top"})')
        return task_json(await run_in_threadpool(functools.partial(service.move, task_id, top=body["position"] == "top")))

    @api.post("/tasks/{task_id}/backlog", tags=["tasks"], summary="Keep a waiting task out of the queue until released")
    async def backlog(task_id: TaskId) -> dict[str, Any]:
        return task_json(await run_in_threadpool(service.backlog, task_id))

    @api.post("/tasks/{task_id}/release", tags=["tasks"], summary="Put a backlogged task back in the queue")
    async def release(task_id: TaskId) -> dict[str, Any]:
        task = await run_in_threadpool(service.release_backlogged, task_id)
        if pool is not None:
            pool.wake()
        return task_json(task)

    @api.get("/workers", tags=["status"], summary="Worker pools: live, gone (not seen for three lease periods), stopped")
    async def workers() -> list[dict[str, Any]]:
        return [worker_json(w) for w in await run_in_threadpool(service.workers)]

    @api.post("/tasks/{task_id}/cancel", tags=["tasks"], summary="Cancel a task (a running one is asked to stop)")
    async def cancel(task_id: TaskId) -> dict[str, Any]:
        return task_json(await run_in_threadpool(service.cancel, task_id))

    @api.post("/trigger-poll", tags=["queue"], summary="Make this server's worker pool look for work now")
    async def trigger_poll() -> dict[str, Any]:
        if pool is None or not pool.is_running:
            raise HTTPException(409, "no worker pool runs in this server (it was started with --no-worker)")
        pool.wake()
        return {"triggered": True, "worker": pool.worker_id}

    @api.post("/pause", tags=["queue"], summary="Stop new claims: the whole queue, or ?agent=NAME")
    async def pause(agent: str | None = None) -> dict[str, Any]:
        await run_in_threadpool(service.pause, agent)
        return {"paused": True, "agent": agent}

    @api.post("/resume", tags=["queue"], summary="Resume claiming: the whole queue, or ?agent=NAME")
    async def resume(agent: str | None = None) -> dict[str, Any]:
        await run_in_threadpool(service.resume, agent)
        if pool is not None:
            pool.wake()
        return {"paused": False, "agent": agent}

    app.include_router(api)

    # -- inbound webhooks -----------------------------------------------------------------------

    @app.post("/hooks/{name}", tags=["webhooks"], status_code=201,
              summary="A webhook becomes a task (signed with X-Hub-Signature-256, or with the bearer token)")
    async def receive_hook(
        name: str,
        request: Request,
        x_hub_signature_256: str | None = Header(None),
        x_github_event: str | None = Header(None),
        x_github_delivery: str | None = Header(None),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        raw = await request.body()
        hook = await run_in_threadpool(hook_store.get_hook, service.engine, name)
        secret = await run_in_threadpool(hook_secret, hook, secrets)
        if secret is not None:
            if not signed_by(secret, raw, x_hub_signature_256):
                log.warning("hook %s: refused a request with a missing or bad signature", name)
                raise HTTPException(401, f"missing or bad {SIGNATURE_HEADER} signature")
        else:
            scheme, _, token = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not tokens.accepts(token.strip()):
                raise HTTPException(
                    401, "this hook has no secret, so it needs the bearer token", headers={"WWW-Authenticate": "Bearer"}
                )
        if x_github_event == "ping":
            return JSONResponse({"pong": True, "hook": name}, 200)
        body = _parse_json(raw)
        payload = hook_store.task_payload(hook, body)
        lock_key = hook_store.task_lock_key(hook, body)
        unique = f"hook:{name}:{x_github_delivery}" if x_github_delivery else None

        def enqueue_one() -> tuple[Task, bool]:
            with inserted.track() as new:
                task = service.enqueue(
                    hook.agent, payload, priority=hook.priority, lock_key=lock_key, unique_key=unique,
                    created_by=f"hook:{name}",
                )
            return task, task.id in new

        task, created = await run_in_threadpool(enqueue_one)
        return JSONResponse({"task": task_json(task), "created": created}, 201 if created else 200)

    return app


def _statuses(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    statuses = [s.strip() for value in values for s in value.split(",") if s.strip()]
    known = [s.value for s in TaskStatus]
    for status in statuses:
        if status not in known:
            raise TaskValidationError("status", f"must be one of {', '.join(known)} (got {status!r})")
    return statuses


def _loopback_only(request: Request) -> None:
    if request.client is None or not is_loopback(request.client.host):
        raise HTTPException(404, "the API docs are served to this machine only")


async def _json_body(request: Request, *, optional: bool = False) -> Any:
    """The request's JSON body ({} for an empty `optional` one)."""
    raw = await request.body()
    if optional and not raw.strip():
        return {}
    return _parse_json(raw)


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise TaskValidationError("body", f"must be JSON ({type(exc).__name__}: {str(exc)[:200]})") from exc


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TaskValidationError)
    async def invalid(_request: Request, exc: TaskValidationError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": exc.field, "rule": exc.rule}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
        rule = str(first.get("msg", "is not valid"))
        return JSONResponse({"detail": f"{field}: {rule}", "field": field, "rule": rule}, status_code=422)

    @app.exception_handler(QueueFullError)
    async def full(_request: Request, exc: QueueFullError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": exc.field, "rule": exc.rule}, status_code=429)

    for error, status in _STATUS_OF.items():
        app.add_exception_handler(error, functools.partial(_problem, status))


_STATUS_OF: dict[type[Exception], int] = {
    NotFoundError: 404, TaskStateError: 409, LeaseLostError: 409, BodyTooLarge: 413,
    DatabaseFileError: 503, SecretUnavailable: 503,
}


async def _problem(status: int, _request: Request, exc: Exception) -> JSONResponse:
    if status >= 500:
        log.error("api: %s", exc)
    return JSONResponse({"detail": str(exc)}, status_code=status)
