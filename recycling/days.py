"""Calendar days in Asia/Shanghai, the day every cap and daily total counts in."""

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
