"""DurationEdit: a spin box for durations that shows and reads '1 h', '30 days', '2.5 s'.

A plain QDoubleSpinBox shows every value with the same decimals ("3600.00 s", "30.00 days"); this
one shows the largest units that say it exactly, and reads what people type: "90", "90 s",
"1h30m", "1.5 h", "2 days", "1 w".
"""

from __future__ import annotations

import re

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QWidget

MINUTE, HOUR, DAY, WEEK = 60.0, 3600.0, 86_400.0, 604_800.0
_UNITS = {
    "w": WEEK, "week": WEEK, "weeks": WEEK,
    "d": DAY, "day": DAY, "days": DAY,
    "h": HOUR, "hr": HOUR, "hrs": HOUR, "hour": HOUR, "hours": HOUR,
    "m": MINUTE, "min": MINUTE, "mins": MINUTE, "minute": MINUTE, "minutes": MINUTE,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
}
_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)")
_TYPING = re.compile(r"^[\d.\sa-z]*$")


def _number(value: float) -> str:
    """12 -> '12', 2.5 -> '2.5', 0.25 -> '0.25' (at most two decimals, no trailing zeros)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def duration_text(seconds: float) -> str:
    """'0 s', '2.5 s', '1 m 30 s', '1 h', '1 h 30 m', '1 day', '30 days', '1 day 2 h'."""
    if seconds < MINUTE:
        return f"{_number(max(0.0, seconds))} s"
    parts = []
    rest = round(seconds, 2)
    for name, size in (("day", DAY), ("h", HOUR), ("m", MINUTE)):
        count, rest = divmod(rest, size)
        if count:
            unit = ("day" if count == 1 else "days") if name == "day" else name
            parts.append(f"{int(count)} {unit}")
    if rest >= 0.005:
        parts.append(f"{_number(rest)} s")
    return " ".join(parts)


def parse_duration(text: str, default_unit_s: float = 1.0) -> float:
    """Seconds in `text`: parts like '1 h 30 m'; a bare number counts in `default_unit_s`.
    Raises ValueError naming what could not be read."""
    cleaned = text.strip().lower()
    if not cleaned:
        raise ValueError("no duration given")
    total, position = 0.0, 0
    while position < len(cleaned):
        match = _PART.match(cleaned, position)
        if match is None:
            raise ValueError(f"cannot read {text.strip()!r} as a duration, e.g. 90 s, 5 m, 1 h 30 m, 2 days")
        unit = match.group(2)
        if unit and unit not in _UNITS:
            raise ValueError(f"unknown unit {unit!r}: use s, m, h, days or w")
        total += float(match.group(1)) * (_UNITS[unit] if unit else default_unit_s)
        position = match.end()
    return total


class DurationEdit(QDoubleSpinBox):
    """A duration in seconds. `default_unit_s` is the unit of a bare number and of the arrows'
    steps (86400 for a box of days); `special_text` is shown at the minimum (e.g. "app default")."""

    def __init__(
        self,
        parent: QWidget | None,
        minimum_s: float,
        maximum_s: float,
        *,
        default_unit_s: float = 1.0,
        special_text: str = "",
    ) -> None:
        super().__init__(parent)
        self.default_unit_s = default_unit_s
        self.setDecimals(2)
        self.setRange(minimum_s, maximum_s)
        if special_text:
            self.setSpecialValueText(special_text)
        self.setToolTip("Type a duration such as 90 s, 5 m, 1 h 30 m or 2 days")
        width = self.fontMetrics().horizontalAdvance(max(special_text, "1 day 23 h 59 m", key=len))
        self.setMinimumWidth(width + 48)  # the arrows and the frame

    def textFromValue(self, value: float) -> str:
        return duration_text(value)

    def valueFromText(self, text: str) -> float:
        if self.specialValueText() and text == self.specialValueText():
            return self.minimum()
        try:
            return min(self.maximum(), max(self.minimum(), parse_duration(text, self.default_unit_s)))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        if self.specialValueText() and text == self.specialValueText():
            return QValidator.State.Acceptable, text, pos
        try:
            value = parse_duration(text, self.default_unit_s)
        except ValueError:
            state = QValidator.State.Intermediate if _TYPING.match(text.lower()) else QValidator.State.Invalid
            return state, text, pos
        inside = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if inside else QValidator.State.Intermediate), text, pos

    def stepBy(self, steps: int) -> None:
        """Arrows step by a unit that suits the value: seconds, minutes, a quarter hour, days."""
        value = self.value()
        if self.default_unit_s >= DAY:
            step = DAY
        elif value < MINUTE or (steps < 0 and value <= MINUTE):
            step = 1.0
        elif value < HOUR or (steps < 0 and value <= HOUR):
            step = MINUTE
        else:
            step = HOUR / 4
        self.setValue(min(self.maximum(), max(self.minimum(), value + steps * step)))
        self.selectAll()
