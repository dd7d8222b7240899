from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.deadlines.domain.calendar import LONDON, Nation, WorkingDayCalendar

ENGLAND = WorkingDayCalendar(Nation.ENGLAND)


def london(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


def test_procedures_md_example_before_cutoff() -> None:
    # received Fri 19 Dec 2025 at 10:00, 5 working days -> Tue 30 Dec 2025
    start = ENGLAND.effective_receipt(london(2025, 12, 19, 10))
    assert start == date(2025, 12, 19)
    assert ENGLAND.add_working_days(start, 5) == date(2025, 12, 30)


def test_procedures_md_example_after_cutoff() -> None:
    # the same day at 18:30 counts from Mon 22 Dec -> due Wed 31 Dec
    start = ENGLAND.effective_receipt(london(2025, 12, 19, 18, 30))
    assert start == date(2025, 12, 22)
    assert ENGLAND.add_working_days(start, 5) == date(2025, 12, 31)


def test_cutoff_is_inclusive_and_in_london_time() -> None:
    assert ENGLAND.effective_receipt(london(2026, 3, 4, 17, 0)) == date(2026, 3, 5)
    assert ENGLAND.effective_receipt(london(2026, 3, 4, 16, 59)) == date(2026, 3, 4)
    # 16:30 UTC in British Summer Time is 17:30 in London: after the cut-off
    assert ENGLAND.effective_receipt(datetime(2026, 7, 1, 16, 30, tzinfo=UTC)) == date(2026, 7, 2)


def test_weekend_receipt_counts_from_monday() -> None:
    assert ENGLAND.effective_receipt(london(2026, 3, 7, 9)) == date(2026, 3, 9)


@pytest.mark.parametrize(
    "holiday",
    [
        date(2026, 1, 1),
        date(2026, 4, 3),
        date(2026, 4, 6),
        date(2026, 5, 4),
        date(2026, 5, 25),
        date(2026, 8, 31),
        date(2026, 12, 25),
        date(2026, 12, 28),  # substitute for Boxing Day
        date(2025, 4, 21),
        date(2025, 8, 25),
    ],
)
def test_english_bank_holidays_are_not_working_days(holiday: date) -> None:
    assert not ENGLAND.is_working_day(holiday)
    assert "bank holiday" in (ENGLAND.why_not_working(holiday) or "")


def test_nations_differ() -> None:
    scotland = WorkingDayCalendar(Nation.SCOTLAND)
    ni = WorkingDayCalendar(Nation.NORTHERN_IRELAND)
    assert not scotland.is_working_day(date(2026, 1, 2))
    assert ENGLAND.is_working_day(date(2026, 1, 2))
    assert scotland.is_working_day(date(2026, 4, 6))  # no Easter Monday in Scotland
    assert not ni.is_working_day(date(2026, 3, 17))  # St Patrick's Day


def test_closure_days_are_skipped_and_explained() -> None:
    cal = WorkingDayCalendar(Nation.ENGLAND, frozenset({date(2026, 12, 29), date(2026, 12, 30)}))
    assert cal.add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 31)
    reasons = {s.day: s.why for s in cal.skipped_between(date(2026, 12, 24), date(2026, 12, 31))}
    assert reasons[date(2026, 12, 25)].startswith("bank holiday")
    assert reasons[date(2026, 12, 26)] == "Saturday"
    assert reasons[date(2026, 12, 29)] == "organisation closure day"


def test_adding_zero_days_is_the_start() -> None:
    assert ENGLAND.add_working_days(date(2026, 3, 4), 0) == date(2026, 3, 4)
    with pytest.raises(ValueError):
        ENGLAND.add_working_days(date(2026, 3, 4), -1)


days = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))
nations = st.sampled_from(list(Nation))
closures = st.frozensets(
    st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 6, 30)), max_size=20
)


@given(start=days, n=st.integers(min_value=1, max_value=130), nation=nations, closed=closures)
def test_a_due_date_is_never_a_weekend_bank_holiday_or_closure_day(
    start: date, n: int, nation: Nation, closed: frozenset[date]
) -> None:
    cal = WorkingDayCalendar(nation, closed)
    due = cal.add_working_days(start, n)
    assert due.weekday() < 5
    assert due not in closed
    assert cal.is_working_day(due)
    assert cal.subtract_working_days(due, n) <= cal.on_or_after(start)


@given(start=days, n=st.integers(min_value=0, max_value=130), nation=nations, closed=closures)
def test_counting_back_gives_the_days_added(
    start: date, n: int, nation: Nation, closed: frozenset[date]
) -> None:
    cal = WorkingDayCalendar(nation, closed)
    assert cal.working_days_between(start, cal.add_working_days(start, n)) == n


@given(start=days, n=st.integers(min_value=0, max_value=60))
def test_more_days_is_never_earlier(start: date, n: int) -> None:
    assert ENGLAND.add_working_days(start, n + 1) > ENGLAND.add_working_days(start, n)


@given(moment=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)))
def test_effective_receipt_is_a_working_day_not_before_receipt(moment: datetime) -> None:
    received = moment.replace(tzinfo=UTC)
    start = ENGLAND.effective_receipt(received)
    assert ENGLAND.is_working_day(start)
    local = received.astimezone(LONDON)
    assert start >= local.date()
    assert start - local.date() <= timedelta(days=6)
    if start == local.date():
        assert local.time() < time(17, 0)
