"""The failure table: one test per rule, on evidence parsed from the programs' documented output."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from desktop.agents.base import PermanentError, UsageLimitReached
from desktop.agents.coding import RULES, AgentRunFailed, Evidence, RunSummary, classify, parser_for, reset_time
from desktop.agents.coding.failures import DEFAULT_LIMIT_WAIT_S, not_installed, succeeded

NOW = 1_800_000_000.0
ADVICE = {"login": "run `claude` once in a terminal to log in", "install": "npm install -g x"}


def evidence(format: str, *lines: object, exit_code: int = 1, program: str = "claude", config: dict | None = None):
    summary = RunSummary()
    parser = parser_for(format)
    for line in lines:
        text = line if isinstance(line, str) else json.dumps(line)
        summary.lines += 1
        for event in parser.feed(text):
            summary.apply(event)
    return Evidence(program, exit_code, summary, config or {}, ADVICE)


def judge(ev: Evidence, structured: bool = True) -> tuple[str, BaseException]:
    verdict = classify(ev, structured=structured, now=NOW)
    assert verdict is not None
    return verdict


def claude_result(**fields: object) -> dict:
    return {"type": "result", "subtype": "success", "is_error": True, "num_turns": 1, "session_id": "s", **fields}


def test_the_rules_are_in_one_ordered_table() -> None:
    assert [name for name, _ in RULES] == [
        "rate_limit_event", "usage_limit_epoch", "rate_limited", "not_logged_in", "unknown_flag", "max_turns",
        "max_budget", "transient", "empty_output", "failed",
    ]


def test_a_successful_run_is_no_failure_even_after_a_rate_limit_warning() -> None:
    ev = evidence(
        "claude-stream",
        {"type": "rate_limit_event", "rate_limit_info": {"status": "allowed_warning", "resetsAt": NOW + 99}},
        {"type": "result", "subtype": "success", "is_error": False, "result": "done"},
        exit_code=0,
    )
    assert classify(ev, structured=True, now=NOW) is None


def test_exit_code_zero_with_an_error_result_is_a_failure() -> None:
    ev = evidence("claude-stream", claude_result(result="There's an issue with the selected model"), exit_code=0)
    assert not succeeded(ev, structured=True)


def test_rule_rate_limit_event_parks_until_resets_at_plus_the_margin() -> None:
    ev = evidence(
        "claude-stream",
        {"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "resetsAt": NOW + 3600,
                                                         "rateLimitType": "five_hour"}},
        claude_result(result="You've hit your limit · resets 5pm"),
    )
    rule, error = judge(ev)
    assert rule == "rate_limit_event"
    assert isinstance(error, UsageLimitReached) and error.resets_at == NOW + 3600
    assert "five_hour" in str(error)


def test_rule_usage_limit_epoch_reads_claudes_older_result_text() -> None:
    ev = evidence("claude-stream", claude_result(result="Claude AI usage limit reached|1800007200"))
    rule, error = judge(ev)
    assert rule == "usage_limit_epoch"
    assert isinstance(error, UsageLimitReached) and error.resets_at == 1800007200


@pytest.mark.parametrize(
    ("lines", "format", "resets"),
    [
        ([claude_result(result="API Error: 429 rate_limit_error", api_error_status=429)], "claude-stream", None),
        ([{"type": "turn.failed", "error": {"message": "You've hit your usage limit. Try again in 2 hours 5 mins."}}],
         "codex-json", NOW + 2 * 3600 + 5 * 60),
        ([{"type": "error", "message": "exceeded retry limit, last status: 429 Too Many Requests"}], "codex-json",
         None),
        (["litellm.RateLimitError: rate limit exceeded; try again in 20 minutes"], "text", NOW + 20 * 60),
    ],
)
def test_rule_rate_limited_parks_until_the_reset_it_names_or_a_default_wait(
    lines: list[object], format: str, resets: float | None
) -> None:
    rule, error = judge(evidence(format, *lines), structured=format != "text")
    assert rule == "rate_limited" and isinstance(error, UsageLimitReached)
    expected = resets if resets is not None else NOW + DEFAULT_LIMIT_WAIT_S
    assert error.resets_at == pytest.approx(expected)


def test_the_agents_own_words_about_rate_limiting_are_no_usage_limit() -> None:
    ev = evidence(
        "claude-stream",
        {"type": "assistant", "message": {"id": "m", "content": [{"type": "text", "text": "I added rate limit exceeded "
                                                                   "handling (HTTP 429) to the API."}]}},
        claude_result(subtype="error_during_execution", result="Tool crashed"),
    )
    rule, error = judge(ev)
    assert rule == "failed" and isinstance(error, AgentRunFailed)


@pytest.mark.parametrize(
    ("lines", "format", "program"),
    [
        ([claude_result(result="Invalid API key · Please run /login", api_error_status=401)], "claude-stream",
         "claude"),
        ([{"type": "assistant", "message": {"id": "m", "content": [{"type": "text", "text": "Not logged in"}]},
           "error": "authentication_failed"}, claude_result(result="")], "claude-stream", "claude"),
        ([{"type": "turn.failed", "error": {"message": "unexpected status 401 Unauthorized: Missing bearer"}}],
         "codex-json", "codex"),
        (["Error: Invalid API key. Set the provider's API key."], "text", "aider"),
    ],
)
def test_rule_not_logged_in_fails_at_once_saying_what_to_do(lines: list[object], format: str, program: str) -> None:
    rule, error = judge(evidence(format, *lines, program=program), structured=format != "text")
    assert rule == "not_logged_in" and isinstance(error, PermanentError)
    assert f"{program} is not logged in" in str(error) and ADVICE["login"] in str(error)


@pytest.mark.parametrize(
    "line",
    [
        "error: unknown option '--bogus'",
        "error: unexpected argument '--bogus' found",
        "aider: error: unrecognized arguments: --bogus",
        "Unknown argument: bogus",
    ],
)
def test_rule_unknown_flag_fails_at_once_pointing_at_extra_args(line: str) -> None:
    rule, error = judge(evidence("claude-stream", line))
    assert rule == "unknown_flag" and isinstance(error, PermanentError)
    assert "config.extra_args" in str(error) and "bogus" in str(error)


def test_rule_max_turns_fails_at_once_naming_the_setting() -> None:
    ev = evidence("claude-stream", claude_result(subtype="error_max_turns", num_turns=5), config={"max_turns": 5})
    rule, error = judge(ev)
    assert rule == "max_turns" and isinstance(error, PermanentError)
    assert str(error) == "claude stopped at its turn limit (config.max_turns = 5) before finishing"


def test_rule_max_turns_knows_gemini_exit_code_53() -> None:
    rule, error = judge(evidence("text", "Reached the maximum number of turns", exit_code=53, program="gemini"),
                        structured=False)
    assert rule == "max_turns" and isinstance(error, PermanentError)


def test_rule_max_budget_fails_at_once_naming_the_setting() -> None:
    ev = evidence("claude-stream", claude_result(subtype="error_max_budget_usd"), config={"max_budget_usd": 0.5})
    rule, error = judge(ev)
    assert rule == "max_budget" and isinstance(error, PermanentError) and "config.max_budget_usd = 0.5" in str(error)


@pytest.mark.parametrize(
    ("lines", "format"),
    [
        ([claude_result(result='API Error: 529 {"type":"error","error":{"type":"overloaded_error"}}',
                        api_error_status=529)], "claude-stream"),
        ([claude_result(result="API Error: 500 Internal server error", api_error_status=500)], "claude-stream"),
        ([{"type": "error", "message": "stream disconnected before completion: 503 Service Unavailable"}],
         "codex-json"),
        (["Error: connect ECONNREFUSED 127.0.0.1:443"], "text"),
        (["TypeError: fetch failed"], "text"),
    ],
)
def test_rule_transient_retries(lines: list[object], format: str) -> None:
    rule, error = judge(evidence(format, *lines), structured=format != "text")
    assert rule == "transient" and isinstance(error, AgentRunFailed) and not isinstance(error, PermanentError)


def test_rule_empty_output_retries() -> None:
    rule, error = judge(evidence("claude-stream"))
    assert rule == "empty_output" and isinstance(error, AgentRunFailed)
    assert str(error) == "claude printed nothing and exited with code 1"


def test_a_structured_run_that_exits_zero_without_a_result_is_a_failure() -> None:
    rule, error = judge(evidence("claude-stream", {"type": "system", "subtype": "init", "session_id": "s"},
                                 exit_code=0))
    assert rule == "failed" and isinstance(error, AgentRunFailed)


def test_rule_failed_is_the_retryable_rest_with_the_programs_words() -> None:
    ev = evidence("claude-stream", claude_result(subtype="error_during_execution", result="Tool crashed: boom"))
    rule, error = judge(ev)
    assert rule == "failed" and isinstance(error, AgentRunFailed) and "Tool crashed: boom" in str(error)
    assert error.exit_code == 1


def test_a_missing_program_says_how_to_install_it() -> None:
    error = not_installed("Claude Code", "claude", "npm install -g @anthropic-ai/claude-code")
    assert isinstance(error, PermanentError)
    assert str(error) == (
        "'claude' was not found: install Claude Code (npm install -g @anthropic-ai/claude-code), "
        "or set config.cli to its path"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Claude AI usage limit reached|1800003600", 1800003600.0),
        ("limit · resets at 1800003600", 1800003600.0),
        ("try again in 3 days 6 hours 57 minutes.", NOW + 3 * 86400 + 6 * 3600 + 57 * 60),
        ("Please try again in 45s", NOW + 45),
        ("no time here", None),
        ("resets 42", None),
    ],
)
def test_reset_times_are_read_from_limit_messages(text: str, expected: float | None) -> None:
    assert reset_time(text, NOW) == expected


def test_a_reset_clock_time_in_a_named_zone_is_the_next_such_time() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 5, 12, 10, 30, tzinfo=zone).timestamp()
    resets = reset_time("You've hit your limit · resets 2pm (Asia/Shanghai)", now)
    assert resets == datetime(2026, 5, 12, 14, 0, tzinfo=zone).timestamp()
    later = reset_time("You've hit your limit · resets 9am (Asia/Shanghai)", now)
    assert later == datetime(2026, 5, 13, 9, 0, tzinfo=zone).timestamp()


def test_a_reset_clock_time_without_a_zone_is_local() -> None:
    now = datetime(2026, 5, 12, 10, 0).astimezone().timestamp()
    resets = reset_time("or try again at 3:28 PM.", now)
    assert resets == datetime(2026, 5, 12, 15, 28).astimezone().timestamp()
