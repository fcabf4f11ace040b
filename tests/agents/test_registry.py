"""The kind registry: built-ins, entry-point plugins (a real dist-info on sys.path), validation."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import make_ctx, make_task

from desktop.agents import builtin_kinds, get_kind, load_kinds, validate_agent
from desktop.agents.builtin import EchoKind
from desktop.errors import TaskValidationError
from desktop.queue import TaskQueueService

BUILTINS = ["aider", "claude", "codex", "command", "cursor", "echo", "fail", "gemini", "http", "python", "sleep"]


def test_builtin_kinds() -> None:
    kinds = builtin_kinds()
    assert sorted(kinds) == BUILTINS
    for name, kind in kinds.items():
        assert kind.name == name and kind.description


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(TaskValidationError) as info:
        get_kind("nope")
    assert info.value.field == "kind"
    assert info.value.rule == f"unknown agent kind 'nope'; known kinds: {', '.join(BUILTINS)}"


def test_validate_agent_checks_kind_and_config() -> None:
    validate_agent("echo", {})
    validate_agent("command", {"argv": ["true"]})
    with pytest.raises(TaskValidationError) as info:
        validate_agent("command", {"argv": []})
    assert info.value.field == "config.argv"
    with pytest.raises(TaskValidationError) as info:
        validate_agent("http", {"url": "gopher://x"})
    assert info.value.field == "config.url"


def test_the_queue_service_uses_it(db_url: str) -> None:
    service = TaskQueueService.open(db_url, validate_agent=validate_agent)
    try:
        service.add_agent("build", "command", config={"argv": ["make"]})
        with pytest.raises(TaskValidationError) as info:
            service.add_agent("bad", "command", config={"argv": "make"})
        assert info.value.field == "config.argv"
        with pytest.raises(TaskValidationError, match="unknown agent kind 'shell'"):
            service.add_agent("worse", "shell", config={})
        assert [a.name for a in service.list_agents()] == ["build"]
    finally:
        service.close()


PLUGIN = '''
from typing import Any


class ShoutKind:
    name = "shout"
    description = "Upper-case the payload."

    def validate(self, config: dict[str, Any]) -> None:
        pass

    def run(self, task: Any, config: dict[str, Any], ctx: Any) -> Any:
        return str(task.payload).upper()


class _Whisper(ShoutKind):
    name = "whisper"

    def run(self, task: Any, config: dict[str, Any], ctx: Any) -> Any:
        return str(task.payload).lower()


WHISPER = _Whisper()


class EchoClash(ShoutKind):
    name = "echo"


class Exploding:
    def __init__(self) -> None:
        raise RuntimeError("plugin constructor blew up")


NOT_A_KIND = 42
'''

ENTRY_POINTS = """
[agentq.agents]
shout = agentq_demo_plugin:ShoutKind
whisper = agentq_demo_plugin:WHISPER
clash = agentq_demo_plugin:EchoClash
missing = agentq_missing_module_xyz:Kind
exploding = agentq_demo_plugin:Exploding
notakind = agentq_demo_plugin:NOT_A_KIND

[some.other.group]
ignored = agentq_missing_module_xyz:Kind
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real installed distribution: a module plus a dist-info with entry points, on sys.path."""
    site = tmp_path / "site"
    info = site / "agentq_demo-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: agentq-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    (site / "agentq_demo_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    return site


def test_plugins_load_and_broken_ones_are_skipped(plugin_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="desktop.agents.registry")
    kinds = load_kinds(refresh=True)
    assert sorted(kinds) == sorted([*BUILTINS, "shout", "whisper"])
    assert isinstance(kinds["echo"], EchoKind)  # a plugin cannot replace a built-in
    for name in ("missing", "exploding", "notakind", "clash"):
        assert f"agent kind plugin {name!r}" in caplog.text
    ctx = make_ctx(make_task("Hello"))
    assert get_kind("shout").run(ctx.task, {}, ctx) == "HELLO"
    assert get_kind("whisper").run(ctx.task, {}, ctx) == "hello"
    with pytest.raises(TaskValidationError) as info:
        get_kind("missing")
    assert info.value.rule.endswith(f"known kinds: {', '.join(sorted([*BUILTINS, 'shout', 'whisper']))}")


def test_kinds_import_no_qt() -> None:
    import subprocess
    import sys

    code = (
        "import sys, desktop.agents\n"
        "desktop.agents.load_kinds()\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'qasync')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_load_kinds_returns_a_copy() -> None:
    kinds: dict[str, Any] = load_kinds()
    kinds.pop("echo")
    assert "echo" in load_kinds()
