"""The pool's parts on their own: the outage back-off, the run-ahead rule, the completer's wake rule."""

from __future__ import annotations

import threading

import pytest

from desktop.queue import Settlement, TaskQueueService
from desktop.workers import run_ahead
from desktop.workers.completer import Completer
from desktop.workers.outage import DATABASE_BACKOFF_S, Outage, give_up_message
from desktop.workers.run_ahead import RunAhead


def test_an_outage_backs_off_doubling_up_to_its_cap_and_starts_over_once_a_pass_works() -> None:
    outage = Outage()
    waits, lasted = [], []
    for second in range(8):
        lasted.append(outage.failed(100.0 + second))
        waits.append(outage.backoff_s())
    assert lasted == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert waits[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert max(waits) == DATABASE_BACKOFF_S[1] == waits[-1]
    outage.passed(108.0)
    assert outage.failed(200.0) == 0.0 and outage.backoff_s() == pytest.approx(DATABASE_BACKOFF_S[0])


def test_the_give_up_message_names_the_setting_the_time_and_the_tasks_held() -> None:
    message = give_up_message(OSError("disk full."), 31.4, 30.0, 3)
    assert "31 s" in message and "database_retry_s is 30 s" in message and "disk full;" in message
    assert "3 tasks it held" in message


def test_run_ahead_claims_more_only_while_recent_tasks_are_short() -> None:
    ahead = RunAhead()
    assert ahead.extra(2) == 0, "no task has ended yet"
    ahead.ended(run_ahead.RUN_AHEAD_S / 10)
    assert ahead.extra(2) == 20  # about RUN_AHEAD_S of work per slot
    instant = RunAhead()
    instant.ended(0.0)
    assert instant.extra(2) == run_ahead.MAX_RUN_AHEAD, "the cap holds however short they are"
    for _ in range(50):
        ahead.ended(2 * run_ahead.RUN_AHEAD_S)
    assert ahead.extra(2) == 0, "tasks that take RUN_AHEAD_S or more get none"
    ahead.ended(0.0)
    ahead.forget()
    assert ahead.extra(2) == 0, "forgotten: none until a task ends again"
    assert not RunAhead.stale(10.0, 10.0 + run_ahead.GIVE_BACK_AFTER_S / 2)
    assert RunAhead.stale(10.0, 10.0 + run_ahead.GIVE_BACK_AFTER_S)


def test_the_completer_wakes_the_dispatcher_at_a_batch_start_and_when_the_batch_is_due(
    queue: TaskQueueService,
) -> None:
    wake, stopping, busy = threading.Event(), threading.Event(), [3]
    completer = Completer(queue, wake=wake, stopping=stopping, busy=lambda: busy[0], settled=lambda ids, tasks: None)
    assert completer.take(flush_at=3) == []

    def end(task_id: int) -> bool:
        wake.clear()
        completer.end(Settlement.release(task_id, "token"))
        return wake.is_set()

    assert end(1), "the first outcome of a batch wakes the dispatcher (it lingers for more)"
    assert not end(2), "others still run and the batch is not full: no wake for each outcome"
    assert end(3), "flush_at outcomes make the batch due"
    assert [s.task_id for s in completer.take()] == [1, 2, 3] and not completer.pending()
    end(4)
    busy[0] = 0
    assert end(5), "nothing else runs: due at once"
    busy[0] = 3
    stopping.set()
    assert end(6), "stopping: due at once"
    batch = completer.take()
    completer.put_back(batch)
    assert [s.task_id for s in completer.take()] == [4, 5, 6], "a batch put back is settled with the next"
