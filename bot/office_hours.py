"""Office hours of the live chat: a weekly schedule in the administration's time zone.

Written the way offices print it, e.g. ``Mo-Do 08:00-12:00,13:00-16:00; Fr 08:00-12:00`` (German or
English day abbreviations; several ranges per day; ``24:00`` ends a day). An empty schedule or ``always``
means the chat is staffed whenever someone is signed in; ``never`` means callbacks only. Parsed once, when
the settings are read, so a typo stops SiWi at start-up instead of closing the chat silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAYS = {
    "mo": 0, "mon": 0, "di": 1, "tu": 1, "tue": 1, "mi": 2, "we": 2, "wed": 2, "do": 3, "th": 3, "thu": 3,
    "fr": 4, "fri": 4, "sa": 5, "sat": 5, "so": 6, "su": 6, "sun": 6,
}
_DAY_NAMES = {
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})$")

Minutes = tuple[int, int]
"""[start, end) in minutes after midnight."""


@dataclass(frozen=True)
class OfficeHours:
    days: tuple[tuple[Minutes, ...], ...] | None
    """Per weekday (Monday = 0) the open ranges; None = always open."""
    timezone: ZoneInfo

    @classmethod
    def parse(cls, schedule: str, timezone: str = "Europe/Berlin") -> OfficeHours:
        """Raise ValueError with a message that says what is wrong and how it should look."""
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r} (e.g. Europe/Berlin)") from None
        text = schedule.strip()
        if text.lower() in ("", "always", "immer", "24/7"):
            return cls(None, zone)
        days: list[list[Minutes]] = [[] for _ in range(7)]
        if text.lower() in ("never", "nie"):
            return cls(tuple(() for _ in days), zone)
        for entry in filter(None, (part.strip() for part in text.split(";"))):
            head, _, ranges = entry.partition(" ")
            if not ranges.strip():
                raise ValueError(f"{entry!r}: expected days and times, e.g. 'Mo-Fr 08:00-16:00'")
            for day in _parse_days(head):
                days[day].extend(_parse_range(r.strip()) for r in ranges.split(","))
        return cls(tuple(tuple(sorted(d)) for d in days), zone)

    @property
    def always(self) -> bool:
        return self.days is None

    def is_open(self, now: datetime) -> bool:
        if self.days is None:
            return True
        local = now.astimezone(self.timezone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.days[local.weekday()])

    def next_opening(self, now: datetime) -> datetime | None:
        """The next time the chat opens (now, if open); None if it never does."""
        if self.days is None or self.is_open(now):
            return now
        local = now.astimezone(self.timezone)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            for start, _ in self.days[day.weekday()]:
                opening = datetime.combine(day, time(start // 60, start % 60), self.timezone)
                if opening > local:
                    return opening
        return None

    def describe_opening(self, now: datetime, language: str) -> str | None:
        """'heute um 13:00 Uhr' / 'Montag, 8:00 Uhr' — for the citizen, in their language."""
        opening = self.next_opening(now)
        if opening is None or opening == now:
            return None
        local_now = now.astimezone(self.timezone)
        clock = f"{opening.hour}:{opening.minute:02d}"
        english = language != "de"
        if opening.date() == local_now.date():
            return f"today at {clock}" if english else f"heute um {clock} Uhr"
        if opening.date() == local_now.date() + timedelta(days=1):
            return f"tomorrow at {clock}" if english else f"morgen um {clock} Uhr"
        name = _DAY_NAMES["en" if english else "de"][opening.weekday()]
        return f"{name} at {clock}" if english else f"{name}, {clock} Uhr"


def _parse_days(text: str) -> list[int]:
    result: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            start = _DAYS[first.strip().lower().rstrip(".")]
            end = _DAYS[last.strip().lower().rstrip(".")] if dash else start
        except KeyError:
            raise ValueError(f"{part.strip()!r}: days are Mo Di Mi Do Fr Sa So (or Mon … Sun), e.g. "
                             f"'Mo-Fr'") from None
        result.extend((start + i) % 7 for i in range((end - start) % 7 + 1))
    return result


def _parse_range(text: str) -> Minutes:
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"{text!r}: times are HH:MM-HH:MM, e.g. '08:00-16:00'")
    h1, m1, h2, m2 = map(int, match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or start >= end:
        raise ValueError(f"{text!r}: not a time range within one day")
    return start, end
