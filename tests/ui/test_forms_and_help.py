"""Forms read as people write: durations in their units, hints not cut off; Help says where things are."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QDialog, QLabel

from desktop.config import Settings
from desktop.ui.duration_edit import DurationEdit, duration_text, parse_duration
from desktop.ui.help_menu import SHORTCUTS, DataPlacesDialog, about_text

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (0.25, "0.25 s"), (2.5, "2.5 s"), (45, "45 s"), (90, "1 m 30 s"), (3600, "1 h"),
    (5400, "1 h 30 m"), (86_400, "1 day"), (30 * 86_400, "30 days"), (90_000, "1 day 1 h"), (3600.5, "1 h 0.5 s"),
])
def test_durations_are_shown_in_their_units(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)  # and read back as shown


def test_durations_are_read_as_typed() -> None:
    assert parse_duration("90") == 90 and parse_duration("1h30m") == 5400 and parse_duration("1.5 h") == 5400
    assert parse_duration("2 w") == 14 * 86_400 and parse_duration("30", 86_400) == 30 * 86_400
    with pytest.raises(ValueError, match="unknown unit 'parsecs'"):
        parse_duration("3 parsecs")
    with pytest.raises(ValueError, match="cannot read"):
        parse_duration("soon")


def test_a_duration_box_shows_its_value_and_takes_typing() -> None:
    box = DurationEdit(None, -1.0, 7 * 86_400.0, special_text="app default")
    box.setValue(3600)
    assert box.text() == "1 h"
    box.lineEdit().setText("2h 15m")
    box.interpretText()
    assert box.value() == 8100 and box.text() == "2 h 15 m"
    box.setValue(-1)
    assert box.text() == "app default"
    box.stepBy(1)
    assert box.value() == 0


def test_settings_show_round_values_and_whole_hints(make_window, qtbot) -> None:
    window = make_window()
    window.settings = Settings(retry_cap_s=3600.0, retention_days=30.0)
    dialog = window.open_settings()
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.retry_cap.text() == "1 h" and dialog.retention.text() == "30 days"
    hints = [label for label in dialog.findChildren(QLabel) if label.objectName() == "fieldHint"]
    assert len(hints) >= 4
    for hint in hints:  # each hint gets the height its wrapped text needs: nothing is cut off
        assert hint.height() >= hint.heightForWidth(hint.width()), hint.text()
        assert hint.width() > dialog.width() // 2, hint.text()  # as wide as the field column, not a spin box
    dialog.retention.lineEdit().setText("2 weeks")
    dialog.retention.interpretText()
    assert dialog.settings().retention_days == 14
    dialog.reject()

    agent_dialog = window.agents.add_agent()
    for hint in (label for label in agent_dialog.findChildren(QLabel) if label.objectName() == "fieldHint"):
        assert hint.height() >= hint.heightForWidth(hint.width()), hint.text()
    assert agent_dialog.timeout.text() == "app default"
    agent_dialog.reject()


def test_help_lists_the_shortcuts_and_where_data_lives(make_window, qtbot, db_path) -> None:
    window = make_window()
    window.findChild(type(window.open_action), "shortcutsAction").trigger()  # F1
    dialog = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "shortcutsDialog")
    text = " ".join(label.text() for label in dialog.findChildren(QLabel))
    for _keys, what in SHORTCUTS:
        assert what in text
    assert "Ctrl+Enter" in text and "F1" in text
    dialog.reject()

    places = DataPlacesDialog(window.service.url, window)
    shown = " ".join(label.text() for label in places.findChildren(QLabel))
    assert str(db_path) in shown and "settings.json" in shown
    assert isinstance(places, QDialog)
    assert "Agent Queue" in about_text(window.service.url) and str(db_path) in about_text(window.service.url)
