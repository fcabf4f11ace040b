"""A command agent's working folder, which a placeholder lets the payload choose: only an absolute
path without '..' is accepted, in the config and once filled."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.agents import CommandKind, PermanentError, TaskContext
from desktop.errors import TaskValidationError
from tests.agents.agent_helpers import make_task

KIND = CommandKind()


def run(config: dict[str, object], payload: object) -> dict[str, object]:
    task = make_task(payload)
    return KIND.run(task, config, TaskContext(task=task))


@pytest.mark.parametrize("cwd", ["relative/folder", "~/src", "/srv/app/../etc", "src/{name}", "/srv/{name}/.."])
def test_a_relative_or_climbing_cwd_in_the_config_is_refused(cwd: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        KIND.validate({"argv": ["true"], "cwd": cwd})
    assert info.value.field == "config.cwd" and "absolute" in info.value.rule


@pytest.mark.parametrize("chosen", ["relative", "..", "{root}/../..", "/tmp/../etc", ""])
def test_a_payload_cannot_send_the_program_to_a_relative_or_climbing_folder(tmp_path: Path, chosen: str) -> None:
    (tmp_path / "ran").unlink(missing_ok=True)
    value = chosen.replace("{root}", str(tmp_path))
    with pytest.raises(PermanentError, match="config.cwd must be an absolute folder path without '..'"):
        run({"argv": ["touch", str(tmp_path / "ran")], "cwd": "{repo}"}, {"repo": value})
    assert not (tmp_path / "ran").exists()  # nothing ran


def test_an_absolute_folder_from_the_payload_is_used(tmp_path: Path) -> None:
    result = run({"argv": ["pwd"], "cwd": "{repo}"}, {"repo": str(tmp_path)})
    assert result["output_tail"] == str(tmp_path)
