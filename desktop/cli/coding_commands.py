"""The command line for coding agents (a mixin of Cli): `agentq repos`, `agentq diff`, `agentq agents
show`, and what `enqueue`, `show`, `stats` and `agents add/update` add for coding tasks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from desktop import formatting
from desktop.agents.timeouts import attempt_timeout
from desktop.cli.base import CliBase
from desktop.errors import NotFoundError, TaskValidationError
from desktop.queue import Agent, Ledger, LedgerLine, Repo, Task, WorkspaceRecord

PRESET_OPTIONS = (("model", "model"), ("max_turns", "max_turns"), ("max_budget_usd", "max_budget_usd"),
                  ("extra_arg", "extra_args"), ("cli", "cli"))
_SECRET_KEYS = ("env", "headers")


class CodingCommands(CliBase):
    """repos, diff and agents show; helpers for enqueue, show, stats and agents add/update."""

    # -- agentq repos -------------------------------------------------------------------------------

    def cmd_repos(self) -> int:
        a, svc = self.args, self.service
        action = a.action or "list"
        if action == "list":
            repos = svc.list_repos()
            active = {r.name: 0 for r in repos}
            for record in svc.workspaces.listing():
                if record.created and record.repo in active:
                    active[record.repo] += 1
            self.emit(repos, lambda: formatting.table(
                ("NAME", "MODE", "AT ONCE", "BASE", "WORKTREES", "SOURCE"),
                ((r.name, r.mode, r.capacity, r.base_branch or "-", active[r.name], r.source) for r in repos),
            ) if repos else "no repositories; add one with: agentq repos add PATH_OR_URL")
            return 0
        if action == "add":
            return self._add_repo()
        if action == "show":
            repo = svc.get_repo(a.name)
            records = svc.workspaces.listing(repo.name)
            self.emit({"repo": repo, "workspaces": records}, lambda: _repo_text(repo, records))
            return 0
        if action == "update":
            return self._update_repo()
        if action == "remove":
            from desktop.workspaces.registration import forget_repo

            repo = forget_repo(svc, a.name, delete_clone=a.delete_clone)
            kept = "deleted the app's clone" if a.delete_clone else f"its folder {repo.local_path} is left as it is"
            left = [w for w in svc.workspaces.listing(repo.name) if w.created and Path(w.path).exists()]
            if left:
                kept += f"; {len(left)} worktree(s) of its tasks remain (agentq repos prune removes them)"
            self.emit({"removed": repo.name}, lambda: f"removed repository {repo.name}; {kept}")
            return 0
        return self._prune()

    def _add_repo(self) -> int:
        from desktop.workspaces.registration import register_repo
        from desktop.workspaces.task_runs import clones_dir

        a = self.args
        repo = register_repo(
            self.service, a.source, clones_dir(), name=a.name, mode=a.mode or "worktree",
            max_parallel=a.max_parallel or 1, base=a.base, setup=a.setup, copy=a.copy or (), push=a.push,
            open_pr=a.open_pr, commit_uncommitted=a.commit_uncommitted,
        )
        self.emit(repo, lambda: (
            f"added repository {repo.name} ({repo.mode}, up to {repo.capacity} task{'s' if repo.capacity > 1 else ''}"
            f" at once, from {repo.base_branch}): {repo.local_path}"
            + (f"\ncloned {repo.url}" if repo.url else "")
            + f"\nqueue work for it with: agentq enqueue AGENT --repo {repo.name} --prompt \"...\""
        ))
        return 0

    def _update_repo(self) -> int:
        from desktop.workspaces.registration import base_branch
        from desktop.workspaces.worktrees import validate_copy_patterns, validate_setup_command

        a, svc = self.args, self.service
        repo = svc.get_repo(a.name)
        changes: dict[str, Any] = {}
        if a.mode is not None:
            changes["mode"] = a.mode
        if a.max_parallel is not None:
            changes["max_parallel"] = a.max_parallel
        if a.base is not None:
            changes["base_branch"] = base_branch(Path(repo.local_path), a.base, remote=repo.url is not None)
        if a.setup is not None:
            validate_setup_command(a.setup, "setup")
            changes["setup_command"] = a.setup
        if a.copy is not None:
            changes["copy_patterns"] = validate_copy_patterns(a.copy, "copy")
        for flag in ("push", "open_pr", "commit_uncommitted"):
            if getattr(a, flag) is not None:
                changes[flag] = getattr(a, flag)
        if not changes:
            raise TaskValidationError("repos update", "give at least one setting to change (see --help)")
        updated = svc.update_repo(repo.name, **changes)
        self.emit(updated, lambda: f"updated repository {updated.name} ({updated.mode}, up to {updated.capacity} at once)")
        return 0

    def _prune(self) -> int:
        from desktop.workspaces.cleanup import WorkspacePruner

        a, svc = self.args, self.service
        if a.name is not None:
            svc.get_repo(a.name)  # an unknown name is an error, not "nothing to prune"
        pruned = WorkspacePruner(
            svc, a.older_than, repo=a.name, force=a.force, delete_branches=a.delete_branches
        ).run_once(svc.clock())

        def text() -> str:
            if not pruned:
                return f"nothing to prune: no worktree of a task finished over {_span(a.older_than)} ago"
            lines = []
            for item in pruned:
                result, task = item.result, item.record.task_id
                if result.removed:
                    branch = "; branch deleted" if result.branch_deleted else f"; branch {item.record.branch} kept"
                    lines.append(f"removed {result.path} (task {task}){branch}" + (
                        f" ({result.branch_note})" if result.branch_note else ""))
                else:
                    lines.append(f"kept {result.path} (task {task}): {result.reason}")
            return "\n".join(lines)

        self.emit([{"task_id": p.record.task_id, **p.result.to_json()} for p in pruned], text)
        return 0

    # -- agentq diff ----------------------------------------------------------------------------------

    def cmd_diff(self) -> int:
        from desktop.workspaces.task_runs import patch_path

        task = self.service.get(self.args.id)
        path = patch_path(task.id)
        if not path.exists():
            if task.repo is None:
                raise NotFoundError(f"task {task.id} works on no repository, so it has no diff")
            raise NotFoundError(f"task {task.id} has no patch yet: it has not run in its workspace ({task.status.value})")
        patch = path.read_text(encoding="utf-8", errors="replace")
        if self.args.json:
            self.print(formatting.dumps({"task_id": task.id, "path": str(path), "patch": patch}))
        else:
            self.out.write(patch)
        return 0

    # -- agents: presets, show ---------------------------------------------------------------------

    def preset_config(self, current: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """--config (else, for an update, the `current` config) with the coding-agent options
        merged in; None when neither was given."""
        a = self.args
        given = {key: getattr(a, option) for option, key in PRESET_OPTIONS if getattr(a, option) is not None}
        if a.config is None and not given:
            return None
        if a.config is not None and not isinstance(a.config, dict):
            raise TaskValidationError("config", "must be a JSON object (a dict)")
        if isinstance(given.get("cli"), str):
            given["cli"] = _program_path(given["cli"])
        return {**(a.config if a.config is not None else current or {}), **given}

    def show_agent(self) -> int:
        from desktop.agents.registry import load_kinds
        from desktop.config import load_settings

        svc = self.service
        agent = svc.get_agent(self.args.name)
        kind = load_kinds().get(agent.kind)
        settings = load_settings()
        timeout = attempt_timeout(
            task_timeout_s=None, agent_timeout_s=agent.timeout_s, config=agent.config, kind=kind,
            profile_timeout_s=settings.timeout_s, profile=settings.profile,
        )
        spent = next((line.cost_usd for line in svc.ledger(1).by_day), 0.0) if agent.daily_budget_usd else None
        config = hide_secrets(agent.config)
        value = {
            "agent": {**formatting.to_jsonable(agent), "config": config},
            "timeout_s": timeout.seconds, "timeout_from": timeout.source, "installed": kind is not None,
        }
        self.emit(value, lambda: _agent_text(agent, config, timeout.describe(), kind is not None, spent))
        return 0

    # -- enqueue, show, stats ---------------------------------------------------------------------

    def task_payload(self) -> Any:
        """--payload, with --prompt as its ``prompt``."""
        a = self.args
        if a.prompt is None:
            return a.payload
        if a.payload is not None and not isinstance(a.payload, dict):
            raise TaskValidationError("payload", "must be a JSON object to take --prompt as its prompt")
        return {**(a.payload or {}), "prompt": a.prompt}

    def waiting_reason(self, task: Task) -> str | None:
        """Why a pending, blocked or retrying task is not running (the engine's words)."""
        return self.service.wait_reasons([task]).get(task.id)


def agent_state(agent: Agent) -> str:
    """``active``, ``paused``, or ``paused: <why>`` when the app paused it (a daily budget)."""
    if not agent.paused:
        return "active"
    return f"paused: {agent.pause_reason}" if agent.pause_reason else "paused"


def coding_text(facts: dict[str, Any]) -> str:
    """The lines `agentq show` adds for a coding task."""
    lines = []
    if facts:
        lines += ["", "Coding:"]
        files = facts.get("files_changed") or []
        for label, value in (
            ("branch", facts.get("branch")), ("worktree", facts.get("worktree")),
            ("base", _short_commit(facts.get("base_commit"))), ("head", _short_commit(facts.get("head_commit"))),
            ("commits", facts.get("commits")), ("files", len(files) if facts.get("files_changed") is not None else None),
            ("uncommitted", "yes" if facts.get("uncommitted") else None), ("pull request", facts.get("pr_url")),
            ("cost", None if facts.get("cost_usd") is None else f"${facts['cost_usd']:.4f}"),
            ("tokens", None if facts.get("input_tokens") is None
             else f"{facts['input_tokens']:,} in, {facts.get('output_tokens') or 0:,} out"),
            ("session", facts.get("session_id")),
        ):
            if value is not None:
                lines.append(f"  {label:<12} {value}")
        for change in files[:20]:
            added = "-" if change.get("added") is None else f"+{change['added']}"
            removed = "-" if change.get("removed") is None else f"-{change['removed']}"
            lines.append(f"    {added:>6} {removed:>6}  {change['path']}")
        if len(files) > 20:
            lines.append(f"    … {len(files) - 20} more (agentq diff)")
    return "".join("\n" + line for line in lines)


def ledger_text(ledger: Ledger) -> str:
    if not (ledger.by_agent or ledger.by_repo or ledger.by_day):
        return ""
    out = ["", "Cost and tokens (all time; today and the last 7 days per agent and repository):"]
    for title, lines in (("agent", ledger.by_agent), ("repository", ledger.by_repo)):
        if lines:
            out.append(formatting.table(
                (title.upper(), "TODAY", "7 DAYS", "ATTEMPTS", "COST", "TOKENS IN", "TOKENS OUT"),
                ((line.key, _usd(line.today_usd), _usd(line.week_usd), *_ledger_row(line)[1:]) for line in lines),
            ))
    if ledger.by_day:
        out.append(formatting.table(("DAY", "ATTEMPTS", "COST", "TOKENS IN", "TOKENS OUT"),
                                    (_ledger_row(line) for line in ledger.by_day)))
    return "\n".join(out)


def _usd(value: float) -> str:
    return f"${value:.2f}"


def _ledger_row(line: LedgerLine) -> tuple[Any, ...]:
    return line.key, line.attempts, f"${line.cost_usd:.4f}", f"{line.input_tokens:,}", f"{line.output_tokens:,}"


def hide_secrets(config: Any) -> Any:
    """An agent's config for showing: values under env and headers hidden, references kept."""
    if not isinstance(config, dict):
        return config
    shown = dict(config)
    for key in _SECRET_KEYS:
        if isinstance(shown.get(key), dict):
            shown[key] = {k: v if isinstance(v, str) and v.startswith(("$secret:", "$env:")) else "***hidden***"
                          for k, v in shown[key].items()}
    if shown.get("url_password"):
        shown["url_password"] = "***hidden***"
    return shown


def _program_path(cli: str) -> str:
    """A program given as a path is kept absolute (tasks run in other folders); a bare name stays."""
    if os.sep in cli or cli.startswith(("~", ".")):
        return str(Path(cli).expanduser().resolve())
    return cli


def _span(seconds: float) -> str:
    """7d, 12h, 30m, 90s."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _short_commit(commit: str | None) -> str | None:
    return commit[:12] if commit else None


def _agent_text(agent: Agent, config: Any, timeout: str, installed: bool, spent: float | None) -> str:
    lines = [
        f"Agent {agent.name}  ({agent.kind}{'' if installed else ', NOT INSTALLED on this machine'})  "
        f"{agent_state(agent)}",
        f"  config       {json.dumps(config, ensure_ascii=False)}",
        f"  concurrency  {agent.concurrency}",
        f"  timeout      {timeout}",
        f"  max retries  {agent.max_retries if agent.max_retries is not None else 'the retry policy default'}",
    ]
    if agent.daily_budget_usd is not None:
        lines.append(f"  daily budget ${agent.daily_budget_usd:.2f} (spent today ${spent or 0.0:.2f})")
    if agent.notify_url:
        lines.append(f"  notify       {agent.notify_url}")
    if agent.escalate_priority:
        lines.append("  retries      each one priority level higher (up to 5)")
    if agent.max_pending is not None:
        lines.append(f"  max pending  {agent.max_pending} waiting tasks (enqueueing past it is refused)")
    return "\n".join(lines)


def _repo_text(repo: Repo, records: list[WorkspaceRecord]) -> str:
    lines = [
        f"Repository {repo.name}  ({repo.mode}, up to {repo.capacity} task(s) at once)",
        f"  source     {repo.source}",
        f"  folder     {repo.local_path}" + ("  (the app's clone)" if repo.cloned else ""),
        f"  base       {repo.base_branch or '-'}",
        f"  lock key   {repo.lock_key}",
    ]
    for label, value in (
        ("setup", repo.setup_command), ("copy", ", ".join(repo.copy_patterns) or None),
        ("after", ", ".join(f for f in ("commit_uncommitted", "push", "open_pr") if getattr(repo, f)) or None),
    ):
        if value:
            lines.append(f"  {label:<10} {value}")
    if records:
        lines += ["", formatting.table(
            ("TASK", "BRANCH", "FOLDER", "MADE BY", "PORT", "CHANGES"),
            ((r.task_id, r.branch, r.path, "agentq" if r.created else "-", r.port or "-", _changes(r.summary))
             for r in records),
        )]
    return "\n".join(lines)


def _changes(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    files = summary.get("files_total", len(summary.get("files_changed") or []))
    text = f"{summary.get('commits', 0)} commits, {files} files"
    return text + (", uncommitted" if summary.get("uncommitted") else "")
