"""The HTTP API's commands: `agentq serve`, `agentq token` and `agentq hooks` (a mixin of Cli)."""

from __future__ import annotations

import logging

from desktop import formatting
from desktop.cli.base import CliBase
from desktop.config import load_settings

log = logging.getLogger(__name__)


class ApiCommands(CliBase):
    """serve, token and hooks; they use Cli's service, output and options."""

    def cmd_hooks(self) -> int:
        from desktop.api.credentials import HookSecrets
        from desktop.queue import hooks

        a, engine, stored = self.args, self.service.engine, HookSecrets()
        action = a.action or "list"
        if action == "list":
            items = hooks.list_hooks(engine)
            self.emit(items, lambda: formatting.table(
                ("NAME", "AGENT", "PRI", "FIELDS", "CONSTANTS", "LOCKS ON", "SIGNED WITH"),
                ((h.name, h.agent, h.priority, ", ".join(f"{k}={v}" for k, v in h.fields.items()) or "-",
                  ", ".join(h.payload) or "-", h.repo_path or "-", _secret_text(h.secret_source)) for h in items),
            ) if items else "no hooks; add one with: agentq hooks add NAME AGENT --field prompt=issue.title")
            return 0
        if action == "remove":
            hooks.remove_hook(engine, a.name)
            stored.remove(a.name)
            self.emit({"removed": a.name}, lambda: f"removed hook {a.name}")
            return 0
        source = f"env:{a.secret_env}" if a.secret_env else hooks.SECRET_FILE if a.generate_secret else None
        hook = hooks.add_hook(
            engine, a.name, a.agent, priority=a.priority, fields=dict(a.field), payload=a.payload,
            repo_path=a.repo_field, secret_source=source,
        )
        secret = None
        if a.generate_secret:
            try:
                secret = stored.generate(hook.name)
            except BaseException:
                hooks.remove_hook(engine, hook.name)
                raise

        def text() -> str:
            lines = [f"added hook {hook.name}: POST /hooks/{hook.name} enqueues a task of agent {hook.agent}"]
            if secret:
                lines.append(f"secret (shown only now; set it as the sender's webhook secret): {secret}")
            elif source is None:
                lines.append("no secret: callers send the API token (agentq token) as Authorization: Bearer")
            return "\n".join(lines)

        self.emit({"hook": hook, "secret": secret}, text)
        return 0

    def cmd_token(self) -> int:
        from desktop.api.credentials import TokenStore

        store = TokenStore()
        token = store.rotate() if self.args.rotate else store.current()
        self.emit({"token": token, "path": str(store.path)}, lambda: token)
        return 0

    def cmd_serve(self) -> int:
        from desktop.api.binding import check_host, listen, url_of
        from desktop.api.server import serve_forever

        a = self.args
        warning = check_host(a.host, allow_remote=a.allow_remote)
        if warning:
            self.complain(warning, "warning")
            log.warning("%s", warning)
        settings = load_settings()
        sock = listen(a.host, a.port)  # before anything slow: a busy port is reported at once
        service = self.service
        pool = None
        if not a.no_worker:
            from PySide6.QtCore import QCoreApplication

            from desktop.workers.headless import create_pool

            self._qt_app = QCoreApplication.instance() or QCoreApplication([])  # the pool's Qt objects need one
            pool = create_pool(service, settings, **self._pool_options())
            pool.start()
        url = url_of(sock)
        print(f"Agent Queue API on {url} (docs: {url}/docs; token: agentq token)", file=self.out, flush=True)
        try:
            serve_forever(service, settings, sock, pool=pool, cors_origins=a.cors_origin)
        finally:
            if pool is not None:
                pool.stop()
        return 0


def _secret_text(source: str | None) -> str:
    if source is None:
        return "bearer token"
    return "generated secret" if source == "file" else f"secret in ${source.removeprefix('env:')}"
