"""A fake GitHub CLI for the tests: ``gh pr create ...`` prints a pull request URL, like the real one.

It records its arguments and working folder in $FAKE_GH_LOG (JSON lines). With FAKE_GH_FAIL set it
fails the way gh does when it cannot create the pull request (a message on stderr, exit code 1).
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    args = sys.argv[1:]
    log = os.environ.get("FAKE_GH_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"args": args, "cwd": os.getcwd()}) + "\n")
    if args[:2] != ["pr", "create"]:
        print(f"unknown command {' '.join(args[:2])!r} for \"gh\"", file=sys.stderr)
        return 1
    if os.environ.get("FAKE_GH_FAIL"):
        print("pull request create failed: GraphQL: Head sha can't be blank (createPullRequest)", file=sys.stderr)
        return 1
    head = args[args.index("--head") + 1] if "--head" in args else "unknown"
    print(f"\nCreating pull request for {head} into main in example/repo\n", file=sys.stderr)
    print("https://github.com/example/repo/pull/17")
    return 0


if __name__ == "__main__":
    sys.exit(main())
