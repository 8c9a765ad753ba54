"""Calendar days in Asia/Shanghai, the day every cap and daily total counts in; the weekly caps
count ISO weeks (Monday to Sunday) of those days, the monthly caps calendar months."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai_day(moment: datetime) -> date:
    """The Shanghai calendar day of an aware datetime (16:00 UTC is already the next day)."""
    return moment.astimezone(SHANGHAI).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The aware [start, end) of a Shanghai day, for range filters that use the time index."""
    start = datetime.combine(day, time.min, tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def week_start(day: date) -> date:
    """The Monday of the ISO week of a (Shanghai) day."""
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def cap_period_days(day: date) -> tuple[date, date, date, date]:
    """The first and last days of the day's ISO week and calendar month: together they span
    every day whose drop-offs count towards the caps of a drop-off on `day`."""
    next_month = (month_start(day) + timedelta(days=32)).replace(day=1)
    return week_start(day), week_start(day) + timedelta(days=6), month_start(day), next_month - timedelta(days=1)
