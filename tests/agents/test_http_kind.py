"""The http kind against a real local server: results, retryable vs permanent failures, secrets."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import make_ctx, make_task

from desktop.agents import (
    HttpError,
    HttpKind,
    PermanentError,
    TaskCancelled,
    TaskTimeout,
)
from desktop.errors import TaskValidationError

KIND = HttpKind()
SECRET = "Bearer s3cr3t-token-value-0123456789"
PAYLOAD_SECRET = "payload-secret-abcdef"
URL_PASSWORD = "hunter2-url-password"


class Handler(BaseHTTPRequestHandler):
    """Routes: /json, /text, /big, /slow, /redirect, /status/<code>, /echo-error."""

    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        path = self.path.split("?", 1)[0]
        if path == "/slow":
            time.sleep(1.5)
            self._send(200, b"{}", "application/json")
        elif path == "/text":
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif path == "/big":
            self._send(200, b"x" * (200 * 1024), "application/json")
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            self._send(code, json.dumps({"error": code}).encode(), "application/json")
        elif path == "/echo-error":  # a careless server that echoes the request's headers back
            self._send(500, json.dumps(dict(self.headers)).encode(), "application/json")
        else:
            reply = {"method": self.command, "path": self.path, "json": json.loads(body) if body else None}
            self._send(200, json.dumps(reply).encode(), "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[dict[str, Any]]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up early is fine
            super().handle_error(request, client_address)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    srv = Server(("127.0.0.1", 0), Handler)
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def base(srv: Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def run(config: dict[str, Any], payload: Any = None, *, timeout_s: float | None = None, log_path: Path | None = None):
    ctx = make_ctx(make_task(payload), timeout_s=timeout_s, log_path=log_path)
    return KIND.run(ctx.task, config, ctx), ctx


def test_post_sends_the_payload_and_returns_parsed_json(server: Server) -> None:
    result, _ = run({"url": base(server) + "/json"}, {"a": 1, "b": [True, None]})
    assert result == {"status": 200, "body": {"method": "POST", "path": "/json", "json": {"a": 1, "b": [True, None]}}}
    assert server.requests[0]["headers"]["Content-Type"] == "application/json"


def test_get_sends_no_body(server: Server) -> None:
    result, _ = run({"url": base(server) + "/json", "method": "get"}, {"a": 1})
    assert result["body"]["method"] == "GET"
    assert server.requests[0]["body"] == b""


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_methods_send_the_payload(server: Server, method: str) -> None:
    result, _ = run({"url": base(server) + "/json", "method": method}, {"x": method})
    assert result["body"] == {"method": method, "path": "/json", "json": {"x": method}}


def test_text_responses_are_returned_as_text(server: Server) -> None:
    result, _ = run({"url": base(server) + "/text"})
    assert result == {"status": 200, "body": "héllo"}


def test_large_bodies_are_cut_at_64_kib(server: Server) -> None:
    result, _ = run({"url": base(server) + "/big"})
    assert result["truncated"] is True
    assert result["body"] == "x" * (64 * 1024)


def test_url_placeholders_are_percent_encoded_and_cannot_change_the_host(server: Server) -> None:
    url = base(server) + "/items/{name}?q={q}&p={p}"
    result, _ = run({"url": url, "method": "GET"}, {"name": "a/b c", "q": "x&y=z#f", "p": "@evil.invalid/"})
    assert result["body"]["path"] == "/items/a%2Fb%20c?q=x%26y%3Dz%23f&p=%40evil.invalid%2F"
    assert len(server.requests) == 1
    with pytest.raises(PermanentError, match="not a valid URL"):  # "@" can't end the authority
        run({"url": base(server) + "{rest}", "method": "GET"}, {"rest": "@evil.invalid/x"})
    assert len(server.requests) == 1


def test_503_is_retryable(server: Server, log_path: Path) -> None:
    with pytest.raises(HttpError) as info:
        run({"url": base(server) + "/status/503?token=abc"}, log_path=log_path)
    assert not isinstance(info.value, PermanentError)
    assert str(info.value) == f"HTTP 503 from {base(server)}/status/503"  # no query string
    assert info.value.status == 503
    assert "HTTP 503" in log_path.read_text()


def test_429_is_retryable(server: Server) -> None:
    with pytest.raises(HttpError, match="HTTP 429"):
        run({"url": base(server) + "/status/429"})


@pytest.mark.parametrize("code", [400, 401, 404, 422])
def test_other_4xx_fail_permanently(server: Server, code: int) -> None:
    with pytest.raises(PermanentError) as info:
        run({"url": base(server) + f"/status/{code}"})
    assert str(info.value) == f"HTTP {code} from {base(server)}/status/{code}"


def test_redirects_are_not_followed(server: Server) -> None:
    with pytest.raises(PermanentError, match="HTTP 302 .*redirects are not followed"):
        run({"url": base(server) + "/redirect"})
    assert len(server.requests) == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(HttpError) as info:
        run({"url": url})
    assert not isinstance(info.value, PermanentError)
    assert "ConnectError" in str(info.value) and f"{url}" in str(info.value)


def test_network_timeout_is_retryable(server: Server) -> None:
    with pytest.raises(HttpError, match="timed out after 0.3 s"):
        run({"url": base(server) + "/slow", "timeout_s": 0.3})


def test_a_shorter_task_timeout_raises_task_timeout(server: Server) -> None:
    with pytest.raises(TaskTimeout):
        run({"url": base(server) + "/slow"}, timeout_s=0.3)


def test_cancelled_task_sends_nothing(server: Server) -> None:
    ctx = make_ctx(make_task({}))
    ctx.cancel_event.set()
    with pytest.raises(TaskCancelled):
        KIND.run(ctx.task, {"url": base(server) + "/json"}, ctx)
    assert server.requests == []


def secret_config(url: str) -> dict[str, Any]:
    return {
        "url": url,
        "headers": {"Authorization": SECRET, "X-Api-Key": "{key}", "X-Other": "plain-but-private"},
    }


def with_password(url: str) -> str:
    return url.replace("http://", f"http://alice:{URL_PASSWORD}@")


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in (SECRET, "s3cr3t-token-value-0123456789", PAYLOAD_SECRET, URL_PASSWORD, "plain-but-private"):
            assert secret not in text


@pytest.mark.parametrize("path", ["/status/503", "/status/404", "/echo-error", "/json"])
def test_secrets_never_reach_messages_logs_or_logging(
    server: Server, path: str, log_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = secret_config(with_password(base(server) + path))
    error: BaseException | None = None
    try:
        result, _ = run(config, {"key": PAYLOAD_SECRET}, log_path=log_path)
    except (HttpError, PermanentError) as exc:
        error = exc
    sent = server.requests[0]["headers"]
    assert sent["Authorization"] == SECRET and sent["X-Api-Key"] == PAYLOAD_SECRET  # they were sent
    texts = [caplog.text, log_path.read_text() if log_path.exists() else ""]
    if error is not None:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    assert_no_secrets(*texts)
    if path == "/json":
        assert error is None and result["status"] == 200


def test_url_credentials_become_basic_auth_and_stay_out_of_messages(server: Server) -> None:
    with pytest.raises(HttpError) as info:
        run({"url": with_password(base(server) + "/status/502")})
    assert server.requests[0]["headers"]["Authorization"].startswith("Basic ")
    assert str(info.value) == f"HTTP 502 from {base(server)}/status/502"
    assert_no_secrets(str(info.value), "".join(traceback.format_exception(info.value)))


def test_network_errors_hide_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = with_password(f"http://127.0.0.1:{free_port()}/x")
    with pytest.raises(HttpError) as info:
        run(secret_config(url), {"key": PAYLOAD_SECRET})
    assert_no_secrets(str(info.value), "".join(traceback.format_exception(info.value)), caplog.text)


def test_header_value_with_a_line_break_from_the_payload_fails_without_showing_it(server: Server) -> None:
    with pytest.raises(PermanentError) as info:
        run(secret_config(base(server) + "/json"), {"key": PAYLOAD_SECRET + "\r\nX-Injected: 1"})
    assert "config.headers.X-Api-Key" in str(info.value)
    assert_no_secrets(str(info.value))
    assert server.requests == []


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "config.url"),
        ({"url": "ftp://example.com/x"}, "config.url"),
        ({"url": "{base}/x"}, "config.url"),
        ({"url": "https://"}, "config.url"),
        ({"url": "https://example.com/{a.b}"}, "config.url"),
        ({"url": "https://example.com", "method": "FETCH"}, "config.method"),
        ({"url": "https://example.com", "headers": {"A": 1}}, "config.headers.A"),
        ({"url": "https://example.com", "headers": {"Bad Name": "x"}}, "config.headers.Bad Name"),
        ({"url": "https://example.com", "headers": {"A": "x\r\nB: y"}}, "config.headers.A"),
        ({"url": "https://example.com", "timeout_s": -1}, "config.timeout_s"),
        ({"url": "https://example.com", "body": "x"}, "config.body"),
    ],
)
def test_validate_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        KIND.validate(config)
    assert info.value.field == field


def test_validate_never_quotes_a_header_value() -> None:
    value = "secret-{oops.attr}-value"
    with pytest.raises(TaskValidationError) as info:
        KIND.validate({"url": "https://example.com", "headers": {"Authorization": value}})
    assert "oops" not in str(info.value) and "secret" not in str(info.value)
