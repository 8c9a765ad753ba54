"""Carbon accounting, campaigns and daily totals in the admin: emission factors stay as they were
once used, campaigns count cartons from the daily totals, and the totals are read-only lists
that superusers (and whoever is given the view permission) can ask to recompute."""

from datetime import date, datetime
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerError

from recycling.admin.totals import MAX_RECOMPUTE_DAYS
from recycling.models import DailyCityTotal, DailyStationTotal, EmissionFactor, RecyclingCampaign
from tests.factories import (
    CityFactory,
    DailyCityTotalFactory,
    DailyStationTotalFactory,
    DropOffFactory,
    EmissionFactorFactory,
    RecyclingCampaignFactory,
    StaffUserFactory,
    StationFactory,
    StationStaffFactory,
    SuperuserFactory,
)
from tests.recycling.test_admin import english_client, messages_of

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
FACTOR_LIST_URL = reverse("admin:recycling_emissionfactor_changelist")
FACTOR_ADD_URL = reverse("admin:recycling_emissionfactor_add")
CAMPAIGN_LIST_URL = reverse("admin:recycling_recyclingcampaign_changelist")
CAMPAIGN_ADD_URL = reverse("admin:recycling_recyclingcampaign_add")
STATION_TOTALS_URL = reverse("admin:recycling_dailystationtotal_changelist")
CITY_TOTALS_URL = reverse("admin:recycling_dailycitytotal_changelist")
DELAY = "recycling.tasks.aggregate_day_totals.apply_async"


@pytest.fixture
def superuser():
    return SuperuserFactory()


@pytest.fixture
def admin_client_en(superuser):
    return english_client(superuser)


@pytest.fixture
def staff_client():
    return english_client(StationStaffFactory().user)


def factor_data(**overrides) -> dict:
    return {
        "name": "Test factor",
        "kg_board_per_carton": "0.300",
        "kg_co2e_per_kg": "2.500",
        "basis": "Recycling instead of landfill.",
        "source": "A cited source",
        "source_url": "https://example.org/factor",
        "valid_from": "2030-01-01",
        "_save": "1",
        **overrides,
    }


# Emission factors ----------------------------------------------------------------------------


def test_superuser_adds_factor_and_list_shows_kg_co2e_per_carton(admin_client_en):
    """A superuser adds a factor of 0.3 kg x 2.5 kg CO2e/kg; the list shows 0.750 kg CO2e per carton
    for it and 0.865 for the default factor (0.25 x 3.461)."""
    response = admin_client_en.post(FACTOR_ADD_URL, factor_data())
    listing = admin_client_en.get(FACTOR_LIST_URL)

    assert response.status_code == 302
    factor = EmissionFactor.objects.get(name="Test factor")
    assert (factor.kg_board_per_carton, factor.kg_co2e_per_kg, factor.valid_from) == (
        Decimal("0.300"),
        Decimal("2.500"),
        date(2030, 1, 1),
    )
    content = listing.content.decode()
    assert "0.750" in content and "0.865" in content


def test_superuser_changes_unused_factor_but_cannot_delete(admin_client_en):
    """A factor no drop-off used yet can be corrected; deleting it is refused."""
    factor = EmissionFactorFactory(valid_from=date(2030, 1, 1))

    response = admin_client_en.post(
        reverse("admin:recycling_emissionfactor_change", args=[factor.pk]), factor_data(kg_co2e_per_kg="2.600")
    )
    delete = admin_client_en.post(reverse("admin:recycling_emissionfactor_delete", args=[factor.pk]), {"post": "yes"})

    assert response.status_code == 302
    factor.refresh_from_db()
    assert factor.kg_co2e_per_kg == Decimal("2.600")
    assert delete.status_code == 403
    assert EmissionFactor.objects.filter(pk=factor.pk).exists()


def test_factor_is_read_only_once_used(admin_client_en):
    """Once a drop-off used a factor, its page is read-only (no form fields, kg CO2e per carton shown),
    a change POST is 403 and the factor is unchanged."""
    factor = EmissionFactorFactory(valid_from=date(2024, 1, 1))
    DropOffFactory(emission_factor=factor, occurred_at=datetime(2024, 5, 1, 10, tzinfo=SHANGHAI))
    url = reverse("admin:recycling_emissionfactor_change", args=[factor.pk])

    view = admin_client_en.get(url)
    change = admin_client_en.post(url, factor_data(kg_co2e_per_kg="9.000", valid_from="2024-01-01"))

    assert view.status_code == 200
    assert view.context["adminform"].form.fields == {}
    assert "0.400" in view.content.decode()
    assert change.status_code == 403
    factor.refresh_from_db()
    assert factor.kg_co2e_per_kg == Decimal("2.000")


def test_new_factor_cannot_start_before_drop_offs_recorded_with_an_older_one(admin_client_en):
    """Drop-offs of 1 May 2024 used the default factor: a factor in force from 1 January 2024 is refused
    (it would not explain them); one from 2 May 2024 is accepted."""
    DropOffFactory(occurred_at=datetime(2024, 5, 1, 23, 30, tzinfo=SHANGHAI))

    refused = admin_client_en.post(FACTOR_ADD_URL, factor_data(valid_from="2024-01-01"))
    accepted = admin_client_en.post(FACTOR_ADD_URL, factor_data(valid_from="2024-05-02"))

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {
        "valid_from": ["Drop-offs from this day on were already recorded with an earlier factor. Choose a later day."]
    }
    assert accepted.status_code == 302
    assert list(EmissionFactor.objects.filter(name="Test factor").values_list("valid_from", flat=True)) == [
        date(2024, 5, 2)
    ]


# Campaigns -----------------------------------------------------------------------------------


def test_superuser_adds_campaign(admin_client_en):
    """A superuser adds a campaign compared with an earlier one."""
    earlier = RecyclingCampaignFactory(name="Double 11 2023", start_day=date(2023, 11, 1), end_day=date(2023, 11, 11))

    response = admin_client_en.post(
        CAMPAIGN_ADD_URL,
        {
            "name": "Double 11 2024",
            "start_day": "2024-11-01",
            "end_day": "2024-11-11",
            "target_cartons": "5000",
            "compared_with": earlier.pk,
            "_save": "1",
        },
    )

    assert response.status_code == 302
    campaign = RecyclingCampaign.objects.get(name="Double 11 2024")
    assert (campaign.target_cartons, campaign.compared_with) == (5000, earlier)


def test_campaign_end_before_start_is_refused(admin_client_en):
    """A last day before the first day is a form error; nothing is saved."""
    response = admin_client_en.post(
        CAMPAIGN_ADD_URL,
        {"name": "Backwards", "start_day": "2024-11-11", "end_day": "2024-11-01", "target_cartons": "1", "_save": "1"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"end_day": ["The last day cannot be before the first day."]}
    assert not RecyclingCampaign.objects.filter(name="Backwards").exists()


def test_campaign_shows_cartons_to_date_from_daily_totals(admin_client_en):
    """The list and the change page count the cartons of the city totals inside the window only
    (drop-offs not yet in the totals do not count); the change page shows the compared campaign's
    cartons on the same day number too."""
    earlier = RecyclingCampaignFactory(name="2023", start_day=date(2023, 11, 1), end_day=date(2023, 11, 11))
    campaign = RecyclingCampaignFactory(
        name="2024", start_day=date(2024, 11, 1), end_day=date(2024, 11, 11), target_cartons=200, compared_with=earlier
    )
    DailyCityTotalFactory(day=date(2024, 11, 1), cartons=30)
    DailyCityTotalFactory(day=date(2024, 11, 11), cartons=20)
    DailyCityTotalFactory(day=date(2024, 11, 12), cartons=1000)  # after the campaign
    DailyCityTotalFactory(day=date(2023, 11, 3), cartons=7)
    DropOffFactory(cartons=5, occurred_at=datetime(2024, 11, 5, 12, tzinfo=SHANGHAI))

    listing = admin_client_en.get(CAMPAIGN_LIST_URL)
    page = admin_client_en.get(reverse("admin:recycling_recyclingcampaign_change", args=[campaign.pk]))

    rows = {row.name: row for row in listing.context["cl"].result_list}
    model_admin = listing.context["cl"].model_admin
    assert model_admin.cartons_to_date(rows["2024"]) == 50
    assert model_admin.progress(rows["2024"]) == "25%"
    assert model_admin.cartons_to_date(rows["2023"]) == 7
    assert model_admin.compared_to_date(campaign) == 7
    content = page.content.decode()
    assert "cartons to date" in content.lower()
    assert '<div class="readonly">50</div>' in content


def test_campaign_cannot_be_compared_with_itself(admin_client_en):
    """The compared-with choices of a campaign leave the campaign itself out."""
    campaign = RecyclingCampaignFactory(name="2024")
    other = RecyclingCampaignFactory(name="2023", start_day=date(2023, 11, 1), end_day=date(2023, 11, 11))

    page = admin_client_en.get(reverse("admin:recycling_recyclingcampaign_change", args=[campaign.pk]))

    assert list(page.context["adminform"].form.fields["compared_with"].queryset) == [other]


# Daily totals --------------------------------------------------------------------------------


def test_station_totals_list_shows_reuse_rate_and_filters_by_city(admin_client_en):
    """The station totals list shows the reuse rate (3 reused of 10 collected: 30.0%) and, filtered
    by city, only that city's rows."""
    hangzhou = CityFactory(code="HGH")
    in_hangzhou = DailyStationTotalFactory(station=StationFactory(city=hangzhou), cartons=10, cartons_reused=3)
    DailyStationTotalFactory(cartons=0)

    listing = admin_client_en.get(STATION_TOTALS_URL)
    filtered = admin_client_en.get(STATION_TOTALS_URL, {"city__id__exact": hangzhou.pk})

    assert listing.status_code == 200
    assert len(listing.context["cl"].result_list) == 2
    assert "30.0%" in listing.content.decode()
    assert list(filtered.context["cl"].result_list) == [in_hangzhou]


def test_city_totals_list_has_date_hierarchy(admin_client_en):
    """The city totals list drills down by day: 11 November shows that day's rows only."""
    on_11th = DailyCityTotalFactory(day=date(2024, 11, 11), cartons=8, cartons_reused=2)
    DailyCityTotalFactory(day=date(2024, 11, 10))

    response = admin_client_en.get(CITY_TOTALS_URL, {"day__year": 2024, "day__month": 11, "day__day": 11})

    assert list(response.context["cl"].result_list) == [on_11th]
    assert "25.0%" in response.content.decode()


@pytest.mark.parametrize("model_name", ["dailystationtotal", "dailycitytotal"])
def test_totals_are_read_only_for_superusers(admin_client_en, model_name):
    """A superuser reads a total, but the add page, a change POST and the delete page are 403, there is
    no delete action, and the row is unchanged."""
    total = DailyStationTotalFactory(cartons=10) if model_name == "dailystationtotal" else DailyCityTotalFactory()
    change_url = reverse(f"admin:recycling_{model_name}_change", args=[total.pk])

    view = admin_client_en.get(change_url)
    add = admin_client_en.get(reverse(f"admin:recycling_{model_name}_add"))
    change = admin_client_en.post(change_url, {"cartons": 99})
    delete = admin_client_en.post(reverse(f"admin:recycling_{model_name}_delete", args=[total.pk]), {"post": "yes"})
    changelist = admin_client_en.get(reverse(f"admin:recycling_{model_name}_changelist"))

    assert view.status_code == 200
    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    actions = dict(changelist.context["action_form"].fields["action"].choices)
    assert "delete_selected" not in actions and "recompute_days" in actions
    total.refresh_from_db()
    assert total.cartons == 10


def test_staff_cannot_see_totals_factors_or_campaigns(staff_client):
    """Station staff get 403 on the totals, emission factors and campaigns, and the index does not list them."""
    total = DailyStationTotalFactory()
    for url in (
        STATION_TOTALS_URL,
        CITY_TOTALS_URL,
        FACTOR_LIST_URL,
        CAMPAIGN_LIST_URL,
        reverse("admin:recycling_dailystationtotal_change", args=[total.pk]),
    ):
        assert staff_client.get(url).status_code == 403, url

    index = staff_client.get(reverse("admin:index"))
    recycling_app = next(app for app in index.context["app_list"] if app["app_label"] == "recycling")
    listed = {model["object_name"] for model in recycling_app["models"]}
    assert listed.isdisjoint({"DailyStationTotal", "DailyCityTotal", "EmissionFactor", "RecyclingCampaign"})


def test_user_given_view_permission_reads_totals():
    """A staff user given the view permission on station totals (as an operations group will be)
    reads them without being a superuser."""
    user = StaffUserFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_dailystationtotal"))
    DailyStationTotalFactory()

    response = english_client(user).get(STATION_TOTALS_URL)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1


# Recompute action ----------------------------------------------------------------------------


def queued(day: str):
    """How the recompute of a day is queued: without asking for its result (recycling.tasks)."""
    return mock.call(args=[day], ignore_result=True)


def recompute(client, url, totals):
    return client.post(url, {"action": "recompute_days", ACTION_CHECKBOX_NAME: [total.pk for total in totals]})


def test_recompute_enqueues_each_selected_day_once(admin_client_en):
    """Three station rows over two days: one task per day, in day order, and a message naming them;
    the totals themselves are untouched."""
    totals = [
        DailyStationTotalFactory(day=date(2024, 11, 11)),
        DailyStationTotalFactory(day=date(2024, 11, 11)),
        DailyStationTotalFactory(day=date(2024, 11, 10)),
    ]

    with mock.patch(DELAY) as delay:
        response = recompute(admin_client_en, STATION_TOTALS_URL, totals)

    assert response.status_code == 302
    assert delay.call_args_list == [queued("2024-11-10"), queued("2024-11-11")]
    assert messages_of(response) == [
        "Recompute queued for 2 days: 2024-11-10, 2024-11-11. Their totals are replaced once the worker has run."
    ]
    assert DailyStationTotal.objects.count() == 3


def test_recompute_from_city_totals(admin_client_en):
    """The city totals offer the same action: one day selected, one task."""
    total = DailyCityTotalFactory(day=date(2024, 11, 11))

    with mock.patch(DELAY) as delay:
        response = recompute(admin_client_en, CITY_TOTALS_URL, [total])

    assert delay.call_args_list == [queued("2024-11-11")]
    assert messages_of(response) == [
        "Recompute queued for 1 day: 2024-11-11. Its totals are replaced once the worker has run."
    ]
    assert DailyCityTotal.objects.get() == total


def test_recompute_of_too_many_days_is_refused(admin_client_en):
    """Selecting more than MAX_RECOMPUTE_DAYS distinct days enqueues nothing and says why."""
    city = CityFactory()
    totals = [
        DailyCityTotalFactory(city=city, day=date.fromordinal(date(2024, 1, 1).toordinal() + n))
        for n in range(MAX_RECOMPUTE_DAYS + 1)
    ]

    with mock.patch(DELAY) as delay:
        response = recompute(admin_client_en, CITY_TOTALS_URL, totals)

    delay.assert_not_called()
    assert messages_of(response) == [
        f"Select at most {MAX_RECOMPUTE_DAYS} days to recompute at a time; {MAX_RECOMPUTE_DAYS + 1} were selected."
    ]


def test_recompute_reports_an_unreachable_queue(admin_client_en):
    """When the broker does not answer, the page says so instead of failing."""
    total = DailyCityTotalFactory(day=date(2024, 11, 11))

    with mock.patch(DELAY, side_effect=BrokerError("connection refused")):
        response = recompute(admin_client_en, CITY_TOTALS_URL, [total])

    assert response.status_code == 302
    assert messages_of(response) == [
        "The task queue is not answering; the recompute of 2024-11-11 and later days was not queued."
    ]


def test_staff_cannot_run_the_recompute(staff_client):
    """Station staff posting the action are refused (403) and nothing is enqueued."""
    total = DailyStationTotalFactory()

    with mock.patch(DELAY) as delay:
        response = recompute(staff_client, STATION_TOTALS_URL, [total])

    assert response.status_code == 403
    delay.assert_not_called()
