"""The webhook dispatcher's schedule, (re)created after every migrate like the other apps'
(recycling/reference_data.py): every minute, so a retry falls due within a minute of its time.
A recorded event also enqueues the dispatcher after commit, so delivery does not wait for it."""

from core.periodic import ensure_periodic_task


def ensure_reference_data(**kwargs) -> None:
    """post_migrate handler of the events app."""
    ensure_periodic_task(name="Deliver webhooks", task="events.deliver_webhooks", every_minutes=1)
