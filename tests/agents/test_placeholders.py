"""{name} placeholders: filling, escaping, recursion, and the errors that name the field."""

from __future__ import annotations

import pytest

from desktop.agents import PermanentError, fill, names
from desktop.errors import TaskValidationError


def test_fills_names_with_str_of_payload_values() -> None:
    payload = {"repo": "/src/app", "n": 3, "flag": True}
    assert fill("git -C {repo} log -n {n} {flag}", payload, "config.x") == "git -C /src/app log -n 3 True"


def test_double_braces_are_literal() -> None:
    assert fill("{{literal}} {a} }}{{", {"a": 1}) == "{literal} 1 }{"


def test_template_without_placeholders_takes_any_payload() -> None:
    for payload in (None, 5, "text", [1, 2], {"a": 1}):
        assert fill("plain {{x}}", payload) == "plain {x}"


def test_fills_lists_and_dict_values_recursively() -> None:
    template = {"argv": ["run", "{a}", ["{b}"]], "env": {"{KEY}": "v={a}"}, "n": 7}
    filled = fill(template, {"a": "A", "b": "B"}, "config")
    assert filled == {"argv": ["run", "A", ["B"]], "env": {"{KEY}": "v=A"}, "n": 7}


def test_filled_values_are_not_parsed_again() -> None:
    assert fill("{a}", {"a": "{b} {{", "b": "no"}) == "{b} {{"


def test_missing_key_names_key_and_field() -> None:
    with pytest.raises(PermanentError) as info:
        fill("{repo}", {"other": 1}, "config.cwd")
    assert str(info.value) == "payload has no key 'repo' (needed by config.cwd)"


def test_missing_key_in_a_list_names_the_element() -> None:
    with pytest.raises(PermanentError, match=r"needed by config\.argv\[1\]"):
        fill(["prog", "{x}"], {}, "config.argv")


def test_placeholders_need_a_dict_payload() -> None:
    with pytest.raises(PermanentError, match="JSON object.*'repo'.*config.cwd"):
        fill("{repo}", ["not", "a", "dict"], "config.cwd")


def test_quote_applies_to_substituted_values_only() -> None:
    assert fill("/{a}/x", {"a": "b/c"}, quote=lambda v: v.replace("/", "%2F")) == "/b%2Fc/x"


def test_names_lists_placeholders_in_order_once() -> None:
    assert names("{b} {a} {b} {{c}}") == ["b", "a"]
    assert names(["{x}", {"k": "{y}"}, 3]) == ["x", "y"]
    assert names("none") == []


@pytest.mark.parametrize(
    "template",
    ["{a.b}", "{a[0]}", "{}", "{0}", "{a!r}", "{a:>5}", "{a", "a}", "{ a }", "{a{b}}"],
)
def test_attribute_index_format_and_unbalanced_forms_are_refused(template: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        names(template, "config.argv[1]")
    assert info.value.field == "config.argv[1]"
    assert "{{" in info.value.rule
    with pytest.raises(PermanentError):
        fill(template, {"a": {"b": 1}, "0": 1})
