"""Ports for running tasks: never one another running task holds, never one in use on the machine."""

from __future__ import annotations

import socket

import pytest

from desktop.workspaces import WorkspaceError, free_port
from desktop.workspaces.ports import port_is_free


def test_held_ports_are_skipped() -> None:
    first = free_port(set())
    second = free_port({first})
    assert second != first
    third = free_port({first, second})
    assert third not in {first, second}


def test_a_port_in_use_on_the_machine_is_skipped() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        assert not port_is_free(busy)
        port = free_port(set(), first=busy, last=min(busy + 50, 65535))
        assert port != busy and port_is_free(port)


def test_the_port_given_can_be_listened_on() -> None:
    port = free_port({20000, 20001})
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()


def test_a_full_range_is_a_clear_error() -> None:
    with pytest.raises(WorkspaceError, match="no free port left in 20000..20002"):
        free_port({20000, 20001, 20002}, first=20000, last=20002)


def test_a_range_must_be_ports() -> None:
    with pytest.raises(ValueError):
        free_port(set(), first=0, last=10)
