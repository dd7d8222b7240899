"""Time as the complaints world counts it: UK public bodies work in Europe/London, so "today"
for a deadline or a letter is London's date, whatever the server's time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def london_today(now: datetime) -> date:
    if now.tzinfo is None:
        raise ValueError("a naive datetime has no place in Redress: pass an aware one")
    return now.astimezone(LONDON).date()
