#!/usr/bin/env python3
"""A fake Claude Code for the tests: ``claude -p --output-format stream-json --verbose ... -- PROMPT``.

It speaks stream-json as Claude Code documents it: ``system``/``init`` with the session id, model,
cwd and tools; ``assistant`` messages with ``text`` and ``tool_use`` blocks; ``user`` messages with
``tool_result`` blocks; ``rate_limit_event`` lines; a last ``result`` with subtype, is_error,
num_turns, result, session_id, total_cost_usd and usage. It really edits (and with ``[commit]`` in
the prompt, commits) a file in its working folder. Behaviours (see fakelib.mode_of):

success, rate-limit, not-logged-in, overloaded, max-turns, budget, hang, empty, broken-stream; and
rate-limit-once, overloaded-once: that failure, unless it resumes a session (``--resume``).

Like the real CLI (commander.js) it refuses an option it does not know: ``error: unknown option``.
"""

from __future__ import annotations

import os
import sys
import time
import uuid

from fakelib import EDITED_FILE, commit, edit_file, emit, hang, mode_of, record_run, resets_at, think

KNOWN_VALUE_OPTIONS = {
    "--output-format", "--permission-mode", "--model", "--max-turns", "--max-budget-usd", "--resume", "--add-dir",
}
KNOWN_FLAGS = {"-p", "--print", "--verbose"}
USAGE = {"input_tokens": 1200, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 5000,
         "output_tokens": 450}


def parse(argv: list[str]) -> tuple[dict[str, str], str]:
    options: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return options, " ".join(argv[i + 1:])
        if arg in KNOWN_FLAGS:
            options[arg] = "true"
        elif arg in KNOWN_VALUE_OPTIONS and i + 1 < len(argv):
            options[arg] = argv[i + 1]
            i += 1
        elif arg.startswith("-"):
            print(f"error: unknown option '{arg}'", file=sys.stderr)
            sys.exit(1)
        else:
            return options, " ".join(argv[i:])
        i += 1
    return options, ""


class Session:
    def __init__(self, options: dict[str, str]) -> None:
        self.id = options.get("--resume") or str(uuid.uuid4())
        self.model = options.get("--model") or "claude-sonnet-4-5-20250929"
        self.turn = 0
        self.started = time.monotonic()

    def init(self) -> None:
        emit({
            "type": "system", "subtype": "init", "session_id": self.id, "model": self.model, "cwd": os.getcwd(),
            "tools": ["Bash", "Edit", "Read", "Write"], "permissionMode": "acceptEdits", "apiKeySource": "none",
        })

    def assistant(self, *blocks: dict, error: str | None = None) -> None:
        self.turn += 1
        message = {
            "id": f"msg_{self.turn:02d}", "type": "message", "role": "assistant", "model": self.model,
            "content": list(blocks), "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 5},
        }
        event = {"type": "assistant", "message": message, "parent_tool_use_id": None, "session_id": self.id}
        if error:
            event["error"] = error
        emit(event)

    def tool_result(self, tool_use_id: str, content: str, is_error: bool = False) -> None:
        block = {"type": "tool_result", "tool_use_id": tool_use_id, "content": content, "is_error": is_error}
        emit({"type": "user", "message": {"role": "user", "content": [block]}, "session_id": self.id})

    def result(self, subtype: str, text: str, *, is_error: bool = False, cost: float = 0.0123,
               usage: dict | None = None, status: int | None = None) -> None:
        event = {
            "type": "result", "subtype": subtype, "is_error": is_error,
            "duration_ms": int((time.monotonic() - self.started) * 1000), "duration_api_ms": 900,
            "num_turns": self.turn, "result": text, "session_id": self.id, "total_cost_usd": cost,
            "usage": usage or USAGE, "permission_denials": [],
        }
        if status is not None:
            event["api_error_status"] = status
        emit(event)


def rate_limit(status: str, resets: int) -> None:
    emit({"type": "rate_limit_event", "rate_limit_info": {
        "status": status, "resetsAt": resets, "rateLimitType": "five_hour", "isUsingOverage": False,
    }, "session_id": "x"})


def work(session: Session, prompt: str) -> str:
    """Edit a file (and commit it if asked), telling it as tool calls; the final text."""
    session.assistant({"type": "text", "text": "I'll make the change now."})
    think()
    path = edit_file(prompt)
    session.assistant({"type": "tool_use", "id": "toolu_01", "name": "Edit",
                       "input": {"file_path": str(path), "old_string": "", "new_string": "done"}})
    session.tool_result("toolu_01", f"The file {path} has been updated.")
    if "[commit]" in prompt:
        session.assistant({"type": "tool_use", "id": "toolu_02", "name": "Bash",
                           "input": {"command": "git add -A && git commit -m 'Agent change'"}})
        sha = commit("Agent change")
        session.tool_result("toolu_02", f"[agentq {sha[:7]}] Agent change")
    text = f"Done: I updated {EDITED_FILE}."
    session.assistant({"type": "text", "text": text})
    return text


def main() -> int:
    record_run(sys.argv[1:])
    options, prompt = parse(sys.argv[1:])
    mode = mode_of(prompt)
    if mode.endswith("-once"):
        mode = "success" if "--resume" in options else mode.removesuffix("-once")
    if mode == "empty":
        return 1
    session = Session(options)
    session.init()
    if mode == "hang":
        hang()
    if mode == "rate-limit":
        resets = resets_at()
        rate_limit("rejected", resets)
        text = "You've hit your limit · resets 5pm (UTC)"
        session.assistant({"type": "text", "text": text}, error="rate_limit")
        session.result("success", text, is_error=True, cost=0.0, status=429)
        return 1
    if mode == "not-logged-in":
        text = "Invalid API key · Please run /login"
        session.assistant({"type": "text", "text": text}, error="authentication_failed")
        session.result("success", text, is_error=True, cost=0.0, status=401)
        return 1
    if mode == "overloaded":
        for attempt in (1, 2):
            emit({"type": "system", "subtype": "api_retry", "attempt": attempt, "max_retries": 2,
                  "retry_delay_ms": 500, "error_status": 529, "error": "overloaded_error", "session_id": session.id})
        text = 'API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
        session.result("success", text, is_error=True, cost=0.0, status=529)
        return 1
    rate_limit("allowed", resets_at())  # informational: the run goes on
    if mode == "broken-stream":
        emit_broken_lines(session)
    final = work(session, prompt)
    if mode == "max-turns":
        session.result("error_max_turns", "", is_error=True)
        return 1
    if mode == "budget":
        session.result("error_max_budget_usd", "", is_error=True)
        return 1
    session.result("success", final)
    return 0


def emit_broken_lines(session: Session) -> None:
    """What pipes have been seen to do: text on stdout, an event inside another line, a line cut
    at 64 KiB, a huge line, two events without a newline between them."""
    print("Warning: a plain-text line before the JSON", flush=True)
    inner = '{"type":"rate_limit_event","rate_limit_info":{"status":"allowed_warning","resetsAt":1}}'
    sys.stdout.write('{"type":"assistant","message":{"id":"msg_x","content":[{"type":"text","text":"partial '
                     + inner + "\n" + ' rest of the text"}]}}\n')
    cut = '{"type":"user","message":{"content":[{"type":"tool_result","content":"' + "x" * 70000
    sys.stdout.write(cut[:65536] + "\n")
    huge = "y" * 200_000
    session.assistant({"type": "tool_use", "id": "toolu_big", "name": "Read", "input": {"file_path": "big.txt"}})
    session.tool_result("toolu_big", huge)
    sys.stdout.write('{"type":"system","subtype":"status"}{"type":"system","subtype":"status"}\n')
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
