"""A member's history: every transfer of their account, signed, with the reason in words."""

from django.utils import translation

from recycling.services import void_dropoff
from rewards.selectors import history_line, member_transfers
from rewards.services import cancel_redemption, donate, reserve_reward

from .conftest import NOW


def lines(member):
    with translation.override("en"):
        return [history_line(transfer=t, member=member) for t in member_transfers(member=member)]


def test_history_explains_earning_reserving_refunds_and_donations(desk):
    """Newest first: the cartons that earned the points (recorded now), then the donation, the
    refund of the cancelled eggs and the eggs reserved (all at the festival's fixed NOW, the later
    one first); points are signed from the member's side and add up to the balance."""
    reservation = reserve_reward(
        member=desk.member, reward=desk.eggs, station=desk.station, quantity=1, idempotency_key="r1", now=NOW
    ).redemption
    cancel_redemption(redemption_id=reservation.pk, member=desk.member, now=NOW)
    donate(member=desk.member, campaign=desk.campaign, notebooks=1, idempotency_key="d1", now=NOW)

    history = lines(desk.member)

    assert [line.points for line in history] == [100, -50, 20, -20]
    assert history[0].reason.startswith("1 carton recycled at ")
    assert history[1].reason == f"Donation to {desk.campaign.title} (1 notebook)"
    assert history[2].reason == "Refund: you cancelled the reservation of Four eggs"
    assert history[3].reason == f"1 × Four eggs reserved at {desk.station.name}"
    desk.member.account.refresh_from_db()
    assert sum(line.points for line in history) == desk.member.account.balance == 50


def test_history_names_rewards_in_chinese_for_chinese_readers(desk):
    """With zh-hans active the reward appears under its Chinese name."""
    reserve_reward(member=desk.member, reward=desk.eggs, station=desk.station, quantity=1, idempotency_key="r", now=NOW)
    with translation.override("zh-hans"):
        reservation = member_transfers(member=desk.member).get(kind="redemption")
        line = history_line(transfer=reservation, member=desk.member)
    assert "四个鸡蛋" in line.reason


def test_a_voided_dropoff_shows_as_its_own_line(desk):
    """Voiding the drop-off that earned the points adds a negative line that says so."""
    earning = member_transfers(member=desk.member).get()
    void_dropoff(dropoff_id=earning.earning_dropoff.pk, staff=earning.earning_dropoff.logged_by, reason="wrong member")

    history = lines(desk.member)

    assert [line.points for line in history] == [-100, 100]
    assert history[0].reason.startswith("Drop-off at ") and history[0].reason.endswith("voided by the station")


def test_history_only_shows_the_members_own_transfers(desk):
    """Another member's activity never appears in this member's history."""
    from tests.factories import MemberFactory

    from .conftest import give_points

    other = MemberFactory()
    give_points(other, 30)
    assert len(lines(desk.member)) == 1
    assert len(lines(other)) == 1
