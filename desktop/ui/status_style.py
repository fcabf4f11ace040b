"""Status colours and the short texts tables show: the only colours the window hard-codes.

Every colour comes in two shades, one for a light palette and one for a dark one, each with a
contrast of at least 4.5:1 (WCAG AA for text) against the palette's base, alternate-base and
window colours; status_colour() picks the shade for the palette in use.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from PySide6.QtGui import QColor, QGuiApplication, QPalette

# name: (on a light palette, on a dark palette)
_SHADES: dict[str, tuple[str, str]] = {
    "pending": ("#5d6869", "#a8b3b4"),
    "blocked": ("#7a4cbf", "#bf9cf0"),
    "backlogged": ("#7d6a3c", "#cbb789"),
    "running": ("#1c66c9", "#6ea8ff"),
    "retrying": ("#9a5a00", "#f0a43c"),
    "completed": ("#1d7a3b", "#5fcf84"),
    "failed": ("#c02f2f", "#ff7a70"),
    "cancelled": ("#6b6b6b", "#a3a3a3"),
}
_ALIASES = {"paused": "retrying", "error": "failed", "lost": "retrying", "interrupted": "pending"}
COLOUR_NAMES = (*_SHADES, *_ALIASES)


def is_dark(palette: QPalette | None = None) -> bool:
    """True when the palette's base (where table text is drawn) is dark."""
    palette = palette if palette is not None else QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Base).lightnessF() < 0.5


def status_colour(name: str, palette: QPalette | None = None) -> QColor | None:
    """The colour of a status (or of 'paused', 'error', an attempt outcome) on `palette`
    (default: the application's); None for a name without a colour."""
    shades = _SHADES.get(_ALIASES.get(name, name))
    if shades is None:
        return None
    return QColor(shades[1] if is_dark(palette) else shades[0])


def hint_colour(palette: QPalette) -> QColor:
    """Secondary text (form hints): the text colour faded towards the window colour, still
    readable (the disabled-text colour of many styles is not)."""
    text, window = palette.color(QPalette.ColorRole.WindowText), palette.color(QPalette.ColorRole.Window)
    mix = 0.68
    return QColor.fromRgbF(
        text.redF() * mix + window.redF() * (1 - mix),
        text.greenF() * mix + window.greenF() * (1 - mix),
        text.blueF() * mix + window.blueF() * (1 - mix),
    )


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 task', '2 tasks', '12,000 tasks'."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def when(value: datetime | None) -> str:
    """A local time to the second, or an empty cell."""
    return "" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short_when(value: datetime | None, today: date | None = None) -> str:
    """For table cells: the time alone for today, 'Nov 20 13:47' this year, else the date."""
    if value is None:
        return ""
    local = value.astimezone()
    today = today or date.today()
    if local.date() == today:
        return local.strftime("%H:%M:%S")
    if local.year == today.year:
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d")


def seconds_text(value: float | None) -> str:
    """A duration for people: 4 ms, 0.25 s, 12.0 s, 3 m 05 s, 2 h 10 m."""
    if value is None:
        return "–"
    if value < 0.1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def duration_between(start: datetime | None, end: datetime | None, *, running: bool = False) -> str:
    if start is None:
        return ""
    if end is None:
        if not running:
            return ""
        end = datetime.now(UTC)
    return seconds_text(max(0.0, (end - start).total_seconds()))


def one_line(text: str | None, width: int = 120) -> str:
    """The first non-blank line of `text`, cut to `width` characters."""
    if not text:
        return ""
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""


def compact_json(value: Any, width: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= width else text[: width - 1] + "…"


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
