"""No 500 on any input to the admin and the pages (issue 14, section 4): filters and lookups
with values of the wrong type, NUL characters, numbers beyond their column, over-long strings,
on every list and form of every registered admin. (The API's are tests/api/test_bad_input.py;
the sign-in form's long usernames are tests/members/test_signin.py's.)"""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse

from rewards.models import StationStock
from tests.factories import (
    AuditEventFactory,
    DropOffFactory,
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StationStaffFactory,
    StationStockFactory,
    SuperuserFactory,
)

pytestmark = pytest.mark.django_db

ALL_ADMINS = sorted(admin.site._registry, key=lambda model: model._meta.label)
JUNK_FILTERS = [
    "station=abc",
    "station__id__exact=abc",
    "city__id__exact=abc",
    "reward__id__exact=abc",
    "user__id__exact=abc",
    "id=abc",
    "address=not-an-ip",
    "day__gte=notaday",
    "station__id__exact=" + "9" * 30,
    "is_active__exact=maybe",
    "occurred_at__year=99999999999",
    "at__year=99999999999",
    "day__year=9999",
    "o=abc",
    "p=99999999999999999999",
    "q=" + "x" * 10_000,
]
NUL_QUERIES = ["q=a%00b", "status=%00", "kind=%00", "action=%00", "role=%00", "province=%00", "station=%00"]
TOO_LONG = "x" * 100_000
JUNK_VALUES = [TOO_LONG, "9" * 30, "-" + "9" * 30, "abc", "1e400", "\ud7ff" * 1000]
PER_FIELD_JUNK = ("9" * 30, "-" + "9" * 30)


@pytest.fixture
def superuser_client():
    """A superuser (who sees every admin) and one row of the models whose lists need one."""
    StationStaffFactory()
    EarningRuleFactory()
    DropOffFactory()
    StationStockFactory()
    AuditEventFactory()
    client = Client(HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False)
    client.force_login(SuperuserFactory())
    return client


def admin_url(model, view: str, *args) -> str | None:
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)
    except NoReverseMatch:
        return None


@pytest.mark.parametrize("junk", JUNK_FILTERS)
def test_junk_filters_on_every_admin_list_are_never_a_500(superuser_client, junk):
    answers = {
        model._meta.label: superuser_client.get(f"{admin_url(model, 'changelist')}?{junk}") for model in ALL_ADMINS
    }
    assert {label: r.status_code for label, r in answers.items() if r.status_code >= 500} == {}


@pytest.mark.parametrize(
    ("url", "junk"),
    [
        ("admin:audit_auditevent_changelist", "address=not-an-ip"),
        ("admin:stations_stationstaff_changelist", "station__id__exact=abc"),
        ("admin:recycling_dropoff_changelist", "occurred_at__year=99999999999"),
        ("admin:recycling_dailystationtotal_changelist", "day__year=9999"),
    ],
)
def test_a_wrong_typed_lookup_goes_back_to_the_list_with_the_error_flag(superuser_client, url, junk):
    response = superuser_client.get(f"{reverse(url)}?{junk}")
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


@pytest.mark.parametrize("junk", NUL_QUERIES)
def test_a_nul_character_in_a_query_is_a_400_everywhere(superuser_client, junk):
    for model in ALL_ADMINS:
        response = superuser_client.get(f"{admin_url(model, 'changelist')}?{junk}")
        assert response.status_code == 400, model._meta.label
    assert superuser_client.get(f"/stations/?{junk}").status_code == 400
    api = superuser_client.get(f"/api/v1/stations/?{junk}")
    assert api.status_code == 400 and api.json()["error"]["code"] == "invalid_characters"


def test_a_nul_character_in_a_form_is_a_400(superuser_client):
    response = superuser_client.post(reverse("admin:stations_city_add"), {"code": "A\x00B"})
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize("junk", ["abc", "%00x", "9" * 30, "-1", "1,abc"])
def test_add_forms_with_junk_initial_values_show_the_form(superuser_client, junk):
    """?station=abc and the like prefill an add form; a value the field cannot hold is dropped."""
    for model in ALL_ADMINS:
        url = admin_url(model, "add")
        if url is None:
            continue
        for name in ("station", "city", "reward", "user", "member"):
            response = superuser_client.get(f"{url}?{name}={junk}")
            assert response.status_code in (200, 302, 400, 403), (model._meta.label, name, response.status_code)


def form_of(response):
    context = response.context
    if context is None:
        return None
    if "adminform" in context:
        return context["adminform"].form
    return context.get("form")


@pytest.mark.parametrize("junk", JUNK_VALUES, ids=["100k", "30 digits", "-30 digits", "abc", "1e400", "long unicode"])
def test_junk_in_every_field_of_every_admin_form_is_never_a_500(superuser_client, junk):
    """Every add form and the change form of a row of each model, with the junk in every field
    at once, and numbers beyond any column in each field alone (the others as the form showed
    them): an answer with the form's errors, never a 500."""
    failures = {}
    for model in ALL_ADMINS:
        row = model._default_manager.order_by("pk").first()
        urls = [admin_url(model, "add"), row and admin_url(model, "change", row.pk)]
        for url in filter(None, urls):
            shown = superuser_client.get(url)
            form = form_of(shown)
            if shown.status_code != 200 or form is None:
                continue
            initial = {name: form[name].value() for name in form.fields}
            initial = {name: "" if value is None else value for name, value in initial.items()}
            alone = [{**initial, name: junk} for name in form.fields] if junk in PER_FIELD_JUNK else []
            for data in [dict.fromkeys(form.fields, junk), *alone]:
                response = superuser_client.post(url, data)
                if response.status_code >= 500:
                    failures[(url, tuple(data)[:3])] = response.status_code
    assert failures == {}


def test_a_30_digit_stock_change_is_a_form_error(superuser_client):
    stock = StationStock.objects.get()
    response = superuser_client.post(
        reverse("admin:rewards_stationstock_change", args=[stock.pk]),
        {"station": stock.station_id, "reward": stock.reward_id, "change": "9" * 30},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["change"]
    assert StationStock.objects.get().quantity == stock.quantity


# The member pages ----------------------------------------------------------------------------


@pytest.fixture
def member_client():
    member = MemberFactory()
    client = Client(HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False)
    client.force_login(member.user, backend="recycling.auth.MobileNumberBackend")
    return client


@pytest.mark.parametrize("junk", JUNK_VALUES, ids=["100k", "30 digits", "-30 digits", "abc", "1e400", "long unicode"])
def test_junk_in_the_member_forms_is_never_a_500(member_client, junk):
    reward = RewardFactory()
    forms = {
        reverse("members:reserve"): ["reward", "station", "quantity", "idempotency_key"],
        reverse("members:password_change"): ["old_password", "new_password1", "new_password2"],
    }
    for url, fields in forms.items():
        for name in fields:
            data = {"reward": reward.pk, "station": 1, "quantity": 1, "idempotency_key": "k", name: junk}
            assert member_client.post(url, data).status_code < 500, (url, name)
    for junk_query in ("city=" + junk, "page=" + junk):
        assert member_client.get(f"/stations/?{junk_query}").status_code < 500


@pytest.mark.parametrize("junk", JUNK_VALUES, ids=["100k", "30 digits", "-30 digits", "abc", "1e400", "long unicode"])
def test_junk_in_the_sign_up_form_is_never_a_500(junk):
    client = Client(HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False)
    for name in ("mobile", "code", "password1", "password2", "idempotency_key"):
        data = {"mobile": "13812345678", "password1": "pw-123456789", "password2": "pw-123456789", name: junk}
        assert client.post(reverse("members:signup"), data).status_code < 500, name
