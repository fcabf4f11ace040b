"""Spotting command agents whose argv lets a task's payload inject code.

The command kind never uses a shell, so a payload value arrives as one literal argument. That
guarantee is lost when the argv itself runs an interpreter on code with a placeholder in it:
``["sh", "-c", "git commit -m {message}"]`` runs whatever ``message`` says. The safe form passes
the value as an argument of its own: ``["sh", "-c", 'git commit -m "$1"', "sh", "{message}"]``.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from desktop.agents import placeholders
from desktop.errors import TaskValidationError

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "csh", "tcsh", "ash", "busybox"})
CODE_FLAGS: dict[str, frozenset[str]] = {
    **{shell: frozenset({"-c"}) for shell in SHELLS},
    "python": frozenset({"-c"}), "pypy": frozenset({"-c"}), "perl": frozenset({"-e", "-E"}),
    "ruby": frozenset({"-e"}), "node": frozenset({"-e", "--eval", "-p", "--print"}), "deno": frozenset({"eval"}),
    "php": frozenset({"-r"}), "lua": frozenset({"-e"}), "osascript": frozenset({"-e"}),
    "pwsh": frozenset({"-c", "-command", "-Command"}), "powershell": frozenset({"-c", "-command", "-Command"}),
}
_VERSION = re.compile(r"[\d.]+$")


def injection_warnings(config: Any) -> list[str]:
    """Warnings, each naming the argv item, for a command agent's config; [] when it looks safe."""
    argv = config.get("argv") if isinstance(config, dict) else None
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        return []
    start = _program_index(argv)
    if start >= len(argv):
        return []
    if _names(argv[start]):
        return [f"config.argv[{start}]: the program to run comes from the payload, so a task can run anything"]
    interpreter = _interpreter(argv[start])
    if interpreter is None:
        return []
    for index in range(start + 1, len(argv) - 1):
        arg = argv[index]
        if _is_code_flag(interpreter, arg):
            names = _names(argv[index + 1])
            if not names:
                return []
            return [
                f"config.argv[{index + 1}]: {{{names[0]}}} is put into the code that {interpreter} {arg} runs, "
                "so a task's payload can inject commands; pass it as an argument of its own instead, e.g. "
                f"[\"sh\", \"-c\", \"... \\\"$1\\\" ...\", \"sh\", \"{{{names[0]}}}\"]"
            ]
    return []


def _program_index(argv: list[str]) -> int:
    """Skip an `env` wrapper and its VAR=value and -option words."""
    if PurePath(argv[0]).name != "env":
        return 0
    index = 1
    while index < len(argv) and ("=" in argv[index] or argv[index].startswith("-")):
        index += 1
    return index


def _interpreter(program: str) -> str | None:
    name = PurePath(program).name.removesuffix(".exe")
    name = name if name in CODE_FLAGS else _VERSION.sub("", name)  # python3.12 -> python
    return name if name in CODE_FLAGS else None


def _is_code_flag(interpreter: str, arg: str) -> bool:
    if arg in CODE_FLAGS[interpreter]:
        return True
    # Shells take clustered flags: -lc, -ec, -xc.
    return interpreter in SHELLS and arg.startswith("-") and not arg.startswith("--") and arg.endswith("c")


def _names(text: str) -> list[str]:
    try:
        return placeholders.names(text)
    except TaskValidationError:
        return []
