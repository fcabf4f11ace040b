"""A fake Codex CLI for the tests: ``codex exec --json [--sandbox S] [-m M] [resume ID] -- PROMPT``.

It speaks ``exec --json`` as Codex's own event types define it: ``thread.started`` (thread_id),
``turn.started``, ``item.started`` / ``item.completed`` with ``command_execution``,
``file_change`` and ``agent_message`` items, ``turn.completed`` with usage (input_tokens,
cached_input_tokens, output_tokens), or ``error`` and ``turn.failed``. It really edits (and with
``[commit]``, commits) a file. Behaviours (see fakelib.mode_of):

success, usage-limit, not-logged-in, overloaded, hang.

Like the real CLI (clap) it refuses an option it does not know: ``error: unexpected argument``.
"""

from __future__ import annotations

import sys
import uuid

from fakelib import commit, edit_file, emit, hang, mode_of, record_run

VALUE_OPTIONS = {"--sandbox", "-s", "-m", "--model", "-C", "--cd", "--add-dir"}
FLAGS = {"--json", "--skip-git-repo-check"}
USAGE = {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}


def parse(argv: list[str]) -> tuple[dict[str, str], str | None, str]:
    if not argv or argv[0] != "exec":
        print("error: this fake only knows `codex exec`", file=sys.stderr)
        sys.exit(2)
    options: dict[str, str] = {}
    resume: str | None = None
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return options, resume, " ".join(argv[i + 1:])
        if arg in FLAGS:
            options[arg] = "true"
        elif arg in VALUE_OPTIONS and i + 1 < len(argv):
            options[arg] = argv[i + 1]
            i += 1
        elif arg == "resume" and resume is None and i + 1 < len(argv):
            resume = argv[i + 1]
            i += 1
        elif arg.startswith("-"):
            print(f"error: unexpected argument '{arg}' found\n\nUsage: codex exec [OPTIONS] [PROMPT]", file=sys.stderr)
            sys.exit(2)
        else:
            return options, resume, " ".join(argv[i:])
        i += 1
    return options, resume, ""


def fail(message: str) -> int:
    emit({"type": "error", "message": message})
    emit({"type": "turn.failed", "error": {"message": message}})
    return 1


def main() -> int:
    record_run(sys.argv[1:])
    options, resume, prompt = parse(sys.argv[1:])
    mode = mode_of(prompt)
    emit({"type": "thread.started", "thread_id": resume or str(uuid.uuid4())})
    emit({"type": "turn.started"})
    if mode == "hang":
        hang()
    if mode == "usage-limit":
        return fail(
            "You've hit your usage limit. Visit https://chatgpt.com/codex/settings/usage to purchase more credits "
            "or try again in 2 hours 5 minutes."
        )
    if mode == "not-logged-in":
        return fail("unexpected status 401 Unauthorized: Missing bearer or basic authentication in header")
    if mode == "overloaded":
        return fail("stream disconnected before completion: 503 Service Unavailable")
    command = {"id": "item_0", "type": "command_execution", "command": "bash -lc 'ls'", "aggregated_output": "",
               "exit_code": None, "status": "in_progress"}
    emit({"type": "item.started", "item": command})
    emit({"type": "item.completed", "item": {**command, "aggregated_output": "README.md\nsrc\n", "exit_code": 0,
                                              "status": "completed"}})
    path = edit_file(prompt)
    emit({"type": "item.completed", "item": {"id": "item_1", "type": "file_change", "status": "completed",
                                              "changes": [{"path": str(path), "kind": "add"}]}})
    if "[commit]" in prompt:
        git = {"id": "item_2", "type": "command_execution", "command": "git commit -am 'Agent change'",
               "aggregated_output": "", "exit_code": None, "status": "in_progress"}
        emit({"type": "item.started", "item": git})
        commit("Agent change")
        emit({"type": "item.completed", "item": {**git, "exit_code": 0, "status": "completed"}})
    emit({"type": "item.completed", "item": {"id": "item_3", "type": "agent_message",
                                              "text": f"Updated {path.name}; model {options.get('-m', 'default')}."}})
    emit({"type": "turn.completed", "usage": USAGE})
    return 0


if __name__ == "__main__":
    sys.exit(main())
