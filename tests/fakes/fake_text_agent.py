"""A fake plain-text coding agent (standing in for Aider, Gemini CLI or Cursor's agent in text mode).

It takes the prompt as ``--message=PROMPT``, ``--prompt=PROMPT`` or after ``--``, prints text, and
really edits (with ``[commit]``, commits) a file. Behaviours: success, not-logged-in, rate-limit,
unknown-flag, turn-limit (exit code 53, as Gemini CLI), hang.
"""

from __future__ import annotations

import sys

from fakelib import commit, edit_file, hang, mode_of, record_run


def prompt_of(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--":
            return " ".join(argv[i + 1:])
        for flag in ("--message=", "--prompt="):
            if arg.startswith(flag):
                return arg[len(flag):]
    return ""


def main() -> int:
    record_run(sys.argv[1:])
    prompt = prompt_of(sys.argv[1:])
    mode = mode_of(prompt)
    if mode == "unknown-flag":
        print("usage: agent [-h] [--message MESSAGE]\nagent: error: unrecognized arguments: --bogus", file=sys.stderr)
        return 2
    if mode == "not-logged-in":
        print("Error: Invalid API key. Set the provider's API key and try again.", file=sys.stderr)
        return 1
    if mode == "rate-limit":
        print("litellm.RateLimitError: 429 Too Many Requests; try again in 20 minutes", file=sys.stderr)
        return 1
    if mode == "hang":
        hang()
    print("Editing agent-output.txt", flush=True)
    edit_file(prompt)
    if "[commit]" in prompt:
        sha = commit("Agent change")
        print(f"Commit {sha[:7]} Agent change", flush=True)
    if mode == "turn-limit":
        print("Reached the maximum number of turns for this session.", file=sys.stderr)
        return 53
    print("Done.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
