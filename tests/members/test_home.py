"""Home (balance, cartons, carbon, notebooks, this month against last, QR code) and history:
their numbers, the QR code's content, and query counts that do not grow with the history."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import segno
from django.urls import reverse

from recycling.models import DropOff
from recycling.selectors import member_figures
from recycling.services import record_dropoff
from rewards.selectors import notebooks_funded
from rewards.services import cancel_redemption, donate, reserve_reward
from tests.factories import DropOffFactory, EmissionFactorFactory, MemberFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")


def log_cartons(shop, cartons: int, key: str, **kwargs):
    return record_dropoff(
        station=shop.station,
        member_code=shop.member.code,
        cartons=cartons,
        staff=shop.staff,
        idempotency_key=key,
        **kwargs,
    )


def test_the_figures_count_accepted_cartons_with_each_drop_offs_own_factor(shop):
    """Carbon is cartons x kg of board x kg CO2e per kg of the factor recorded on each drop-off."""
    first = DropOff.objects.get(member=shop.member)  # 1 carton under the default factor (shop fixture)
    default = first.emission_factor
    EmissionFactorFactory(
        kg_board_per_carton=Decimal("0.200"), kg_co2e_per_kg=Decimal("2.000"), valid_from="2010-01-01"
    )
    log_cartons(shop, 4, "home-2")  # 4 cartons x 0.4 kg under the newer factor
    DropOffFactory(
        member=shop.member,
        station=shop.station,
        cartons=9,
        status=DropOff.Status.VOIDED,
        void_reason="wrong member",
        voided_by=shop.staff,
        voided_at=first.occurred_at,
    )
    donate(member=shop.member, campaign=shop.campaign, notebooks=1, idempotency_key="home-d")
    figures = member_figures(member=shop.member)
    expected = (default.kg_board_per_carton * default.kg_co2e_per_kg + Decimal("1.6")).quantize(Decimal("0.001"))
    assert figures.cartons == 5
    assert figures.kg_co2e == expected
    assert notebooks_funded(member=shop.member) == 1
    assert figures.balance == 100 + 4 * 100 - 50


def test_this_month_is_compared_with_last_month_in_shanghai_days(db):
    member = MemberFactory()
    now = datetime(2024, 3, 1, 0, 30, tzinfo=SHANGHAI)  # just after midnight in Shanghai (still Feb in UTC)
    for cartons, points, at in [
        (3, 30, datetime(2024, 3, 1, 0, 10, tzinfo=SHANGHAI)),
        (2, 20, datetime(2024, 2, 29, 23, 50, tzinfo=SHANGHAI)),
        (7, 70, datetime(2024, 1, 31, 23, 0, tzinfo=SHANGHAI)),
    ]:
        DropOffFactory(member=member, cartons=cartons, earning_cartons=cartons, points=points, occurred_at=at)
    figures = member_figures(member=member, now=now)
    assert (figures.this_month.start.month, figures.this_month.cartons, figures.this_month.points) == (3, 3, 30)
    assert (figures.last_month.start.month, figures.last_month.cartons, figures.last_month.points) == (2, 2, 20)
    assert figures.cartons == 12


def test_the_home_page_shows_the_numbers(member_client, shop):
    html = member_client.get(reverse("members:home")).content.decode()
    assert 'data-testid="balance">100<' in html
    assert 'data-testid="cartons">1<' in html
    assert 'data-testid="notebooks">0<' in html


def test_numbers_are_grouped_for_the_language(member_client, shop):
    from ledger.models import Account

    Account.objects.filter(member=shop.member).update(balance=12345)
    assert 'data-testid="balance">12,345<' in member_client.get(reverse("members:home")).content.decode()


def test_the_qr_code_is_made_from_the_member_code(member_client, shop):
    """segno cannot decode, so the page's SVG is compared with segno's SVG of the member code
    (a plain QR code, never Micro QR) and differs from that of any other code."""
    html = member_client.get(reverse("members:home")).content.decode()
    expected = segno.make_qr(shop.member.code, error="m").svg_inline(
        border=4, svgclass="qr", lineclass=None, omitsize=True
    )
    assert expected in html
    assert (
        segno.make_qr(shop.member.code[::-1], error="m").svg_inline(
            border=4, svgclass="qr", lineclass=None, omitsize=True
        )
        not in html
    )
    assert segno.make_qr(shop.member.code, error="m").designator.startswith(("1", "2", "3"))  # a full QR version


def build_history(shop, n: int) -> None:
    """n drop-offs, and a reservation, a cancellation and a donation: every kind of history line."""
    for i in range(n):
        log_cartons(shop, 1, f"history-{n}-{i}")
    redemption = reserve_reward(
        member=shop.member, reward=shop.eggs, station=shop.station, quantity=1, idempotency_key=f"h-r-{n}"
    ).redemption
    cancel_redemption(redemption_id=redemption.pk, member=shop.member)
    reserve_reward(member=shop.member, reward=shop.tote, station=shop.station, quantity=1, idempotency_key=f"h-t-{n}")
    donate(member=shop.member, campaign=shop.campaign, notebooks=1, idempotency_key=f"h-d-{n}")


@pytest.mark.parametrize("n", [1, 40])
def test_home_and_history_queries_do_not_grow_with_the_history(member_client, shop, django_assert_max_num_queries, n):
    build_history(shop, n)
    with django_assert_max_num_queries(6):  # session, user, member, the figures and the notebooks, savepoints aside
        assert member_client.get(reverse("members:home")).status_code == 200
    with django_assert_max_num_queries(6):  # session, user, member, count, one page of lines
        response = member_client.get(reverse("members:history"))
    assert len(response.context["lines"]) == min(20, n + 5)


def test_the_history_says_why_the_points_changed_and_pages_by_20(member_client, shop):
    build_history(shop, 20)
    first = member_client.get(reverse("members:history")).content.decode()
    assert "Donation to" in first and "Tote bag reserved at" in first
    assert "Refund: you cancelled the reservation of Four eggs" in first
    assert "cartons recycled at" in first or "carton recycled at" in first
    assert "Page 1 of 2" in first
    second = member_client.get(reverse("members:history") + "?page=2")
    assert len(second.context["lines"]) == 25 - 20
    assert member_client.get(reverse("members:history") + "?page=99").status_code == 200  # the last page
