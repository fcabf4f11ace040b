"""Recurring tasks: cron in a time zone, exactly one task per fire, missed fires run once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from desktop.errors import TaskValidationError
from desktop.queue import TaskQueueService
from tests.conftest import FakeClock


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_a_schedule_fires_once_per_due_time(service: TaskQueueService, clock: FakeClock) -> None:
    clock.now = _at("2026-01-05T08:59:00+00:00")
    service.add_agent("echo", "echo")
    schedule = service.add_schedule("hourly", "0 * * * *", "echo", {"job": "report"}, priority=4)
    assert schedule.next_fire_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert service.fire_due_schedules() == []
    clock.now = _at("2026-01-05T09:00:01+00:00")
    [task] = service.fire_due_schedules()
    assert task.payload == {"job": "report"} and task.priority == 4
    assert task.unique_key == f"schedule:hourly:{int(_at('2026-01-05T09:00:00+00:00'))}"
    assert service.fire_due_schedules() == []
    [after] = service.list_schedules()
    assert after.next_fire_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def test_missed_fire_times_run_once_not_once_each(service: TaskQueueService, clock: FakeClock) -> None:
    clock.now = _at("2026-01-05T08:59:00+00:00")
    service.add_agent("echo", "echo")
    service.add_schedule("every-5", "*/5 * * * *", "echo")
    clock.now = _at("2026-01-05T14:03:00+00:00")  # the app was closed for five hours
    assert len(service.fire_due_schedules()) == 1
    assert service.list_schedules()[0].next_fire_at == datetime(2026, 1, 5, 14, 5, tzinfo=UTC)


def test_time_zones_are_honoured(service: TaskQueueService, clock: FakeClock) -> None:
    clock.now = _at("2026-07-01T00:00:00+00:00")
    service.add_agent("echo", "echo")
    schedule = service.add_schedule("morning", "0 9 * * *", "echo", timezone="Europe/Paris")
    assert schedule.next_fire_at == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # 09:00 CEST


def test_many_threads_firing_at_once_enqueue_exactly_one_task(db_url: str, clock: FakeClock) -> None:
    clock.now = _at("2026-01-05T08:59:00+00:00")
    setup = TaskQueueService.open(db_url, clock=clock)
    setup.add_agent("echo", "echo")
    setup.add_schedule("minutely", "* * * * *", "echo")
    setup.close()
    clock.now = _at("2026-01-05T09:00:30+00:00")
    fired: list[int] = []
    barrier = threading.Barrier(6)

    def fire() -> None:
        service = TaskQueueService.open(db_url, clock=clock)
        barrier.wait()
        fired.extend(t.id for t in service.fire_due_schedules())
        service.close()

    threads = [threading.Thread(target=fire) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fired) == 1
    check = TaskQueueService.open(db_url, clock=clock)
    assert check.count_tasks() == 1
    check.close()


@pytest.mark.parametrize("cron", ["61 * * * *", "every day", "* * *", "", "0 0 * * * *", "0 0 0 * * * *"])
def test_a_bad_cron_expression_is_refused_clearly(service: TaskQueueService, cron: str) -> None:
    service.add_agent("echo", "echo")
    with pytest.raises(TaskValidationError) as error:
        service.add_schedule("bad", cron, "echo")
    assert error.value.field == "cron" and "not a valid cron expression" in str(error.value)
    assert service.list_schedules() == []


def test_an_unknown_time_zone_is_refused(service: TaskQueueService) -> None:
    service.add_agent("echo", "echo")
    with pytest.raises(TaskValidationError, match="timezone"):
        service.add_schedule("bad", "* * * * *", "echo", timezone="Mars/Olympus")


def test_disabling_and_enabling_does_not_burst_missed_fires(service: TaskQueueService, clock: FakeClock) -> None:
    clock.now = _at("2026-01-05T08:59:00+00:00")
    service.add_agent("echo", "echo")
    service.add_schedule("minutely", "* * * * *", "echo")
    service.set_schedule_enabled("minutely", False)
    clock.advance(3600)
    assert service.fire_due_schedules() == []
    service.set_schedule_enabled("minutely", True)
    assert service.fire_due_schedules() == []
    clock.advance(60)
    assert len(service.fire_due_schedules()) == 1
    service.remove_schedule("minutely")
    assert service.list_schedules() == []


def test_a_schedule_that_never_fires_is_refused(service: TaskQueueService) -> None:
    service.add_agent("echo", "echo")
    with pytest.raises(TaskValidationError) as error:
        service.add_schedule("feb30", "0 0 30 2 *", "echo")
    assert error.value.field == "cron" and "never fires" in error.value.rule
    assert service.list_schedules() == []


def test_a_schedule_with_no_next_fire_time_is_disabled_and_the_others_still_fire(
    service: TaskQueueService, clock: FakeClock
) -> None:
    service.add_agent("echo", "echo")
    service.add_schedule("hourly", "0 * * * *", "echo")
    service.add_schedule("last", "0 0 1 1 *", "echo")
    clock.now = _at("9999-01-01T00:30:00+00:00")  # its next fire would be in the year 10000

    fired = service.fire_due_schedules()

    assert sorted(t.created_by or "" for t in fired) == ["schedule:hourly", "schedule:last"]
    by_name = {s.name: s for s in service.list_schedules()}
    assert by_name["last"].enabled is False and by_name["hourly"].enabled is True
