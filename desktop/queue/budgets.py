"""Daily budgets and the ledger: what coding agents cost, from their attempts' cost and token columns.

An agent with a `daily_budget_usd` is paused, with the reason and the time it ends, once its
attempts finished since local midnight cost that much; the pause is lifted at the next local
midnight. The claim never looks at money: it only sees `agents.paused`, as for a user's pause.
A task already claimed when the budget is reached runs to its end. A user who resumes such an
agent by hand lifts the pause; it comes back at the next pass while the day's spending is over
the budget (raise or remove the budget to run more today).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, select, text, update

from desktop.queue.backends import HOUR_S
from desktop.queue.models import LEDGER
from desktop.queue.store import Store
from desktop.queue.tables import A, G, L, T
from desktop.queue.types import Ledger, LedgerLine

log = logging.getLogger(__name__)
LEDGER_DAYS = 7
_REPORTED = text(f"({LEDGER})")  # attempts that reported a cost or tokens: the partial index's rows


def local_midnight(now: float, days_after: int = 0) -> float:
    """The epoch seconds of local midnight starting the day of `now` (plus `days_after` days).
    mktime normalises the day of the month and picks the offset in force then (DST changes)."""
    day = time.localtime(now)
    return time.mktime((day.tm_year, day.tm_mon, day.tm_mday + days_after, 0, 0, 0, 0, 0, -1))


class Budgets:
    """The budget pass a worker pool runs after costly attempts settle, and now and then."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def run_once(self, now: float) -> list[str]:
        """Lift budget pauses whose time has come, then pause each agent whose spending today
        reached its budget; returns the names of the agents paused now. Writes only when
        something changes."""
        with self.store.read() as conn:
            expired = conn.execute(select(G.c.name).where(G.c.paused_until <= now)).scalars().all()
            budgets = {
                name: budget
                for name, budget in conn.execute(
                    select(G.c.name, G.c.daily_budget_usd).where(
                        G.c.daily_budget_usd.is_not(None), (G.c.paused.is_(False)) | (G.c.paused_until <= now)
                    )
                )
            }
            spent = _spent_since(conn, local_midnight(now), list(budgets)) if budgets else {}
        over = {name: spent[name] for name, budget in budgets.items() if spent.get(name, 0.0) >= budget}
        if not expired and not over:
            return []
        until = local_midnight(now, 1)
        with self.store.write() as conn:
            if expired:
                conn.execute(
                    update(G).where(G.c.name.in_(expired), G.c.paused_until <= now)
                    .values(paused=False, pause_reason=None, paused_until=None, updated_at=now)
                )
                self.store.notify(conn)
            for name, cost in over.items():
                reason = (
                    f"daily budget of ${budgets[name]:.2f} reached (${cost:.2f} spent today); "
                    f"resumes at {datetime.fromtimestamp(until).strftime('%Y-%m-%d %H:%M')}"
                )
                conn.execute(
                    update(G).where(G.c.name == name, G.c.paused.is_(False) | (G.c.paused_until <= now))
                    .values(paused=True, pause_reason=reason, paused_until=until, updated_at=now)
                )
                log.warning("agent %s paused: %s", name, reason)
        return sorted(over)


def _spent_since(conn: Any, start: float, agents: list[str]) -> dict[str, float]:
    rows = conn.execute(
        select(T.c.agent, func.sum(A.c.cost_usd))
        .select_from(A)
        .join(T, T.c.id == A.c.task_id)
        .where(_REPORTED, A.c.finished_at >= start, T.c.agent.in_(agents))
        .group_by(T.c.agent)
    )
    return {agent: float(cost or 0.0) for agent, cost in rows}


def ledger(store: Store, now: float, days: int = LEDGER_DAYS) -> Ledger:
    """Attempts, cost and tokens per agent and per repository over all time, with the cost of
    today and of the last `days` local days, and per local day over those days; from the attempt
    ledger (hourly totals that cleanup never lowers), counting the totals that reported a cost or
    tokens. Days begin at the local midnight's hour (in a
    time zone half an hour off UTC, the half hour before midnight counts in the new day)."""
    today = _hour(local_midnight(now))
    start = _hour(local_midnight(now, 1 - days))
    sums = (func.sum(L.c.attempts), func.sum(L.c.cost_usd), func.sum(L.c.input_tokens), func.sum(L.c.output_tokens))
    recent = (
        func.sum(case((L.c.bucket >= today, L.c.cost_usd), else_=0.0)),
        func.sum(case((L.c.bucket >= start, L.c.cost_usd), else_=0.0)),
    )
    reported = (L.c.cost_usd > 0) | (L.c.input_tokens > 0)
    with store.read() as conn:
        per_agent = conn.execute(
            select(L.c.agent, *sums, *recent).where(reported).group_by(L.c.agent).order_by(L.c.agent)
        ).all()
        per_repo = conn.execute(
            select(L.c.repo, *sums, *recent).where(reported, L.c.repo != "").group_by(L.c.repo).order_by(L.c.repo)
        ).all()
        hours = conn.execute(
            select(L.c.bucket, *sums).where(reported, L.c.bucket >= start).group_by(L.c.bucket)
        ).all()
    days_seen: dict[date, list[float]] = defaultdict(lambda: [0, 0.0, 0, 0])
    for bucket, *values in hours:
        line = days_seen[date.fromtimestamp(max(bucket, local_midnight(bucket + HOUR_S - 1)))]
        for n, value in enumerate(values):
            line[n] += value or 0
    return Ledger(
        by_agent=[_line(*row) for row in per_agent],
        by_repo=[_line(*row) for row in per_repo],
        by_day=[_line(day.isoformat(), *values) for day, values in sorted(days_seen.items())],
    )


def _hour(moment: float) -> int:
    return int(moment // HOUR_S * HOUR_S)


def _line(
    key: str, attempts: Any, cost: Any, tokens_in: Any, tokens_out: Any, today: Any = 0.0, week: Any = 0.0
) -> LedgerLine:
    return LedgerLine(
        str(key), int(attempts), float(cost or 0.0), int(tokens_in or 0), int(tokens_out or 0),
        float(today or 0.0), float(week or 0.0),
    )
