"""API tokens (api.models.ApiToken, api.services, api.authentication): stored hashed, one query
per request, revoked one by one, expiring, last used to the minute, audited, and shown once in
the admin; DRF authtoken keys converted by migration 0004."""

import hashlib
import uuid
from datetime import timedelta
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services import create_api_token, revoke_api_token
from audit.models import AuditEvent
from recycling.models import DropOff
from recycling.services import record_dropoff
from tests.factories import (
    ApiTokenFactory,
    EarningRuleFactory,
    MemberFactory,
    StationFactory,
    StationStaffFactory,
    SuperuserFactory,
    UserFactory,
)

ME = "/api/v1/stations/"  # any signed-in user may read it
DROPOFFS = "/api/v1/dropoffs/"


def client_with(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}", HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture
def staff(db):
    return StationStaffFactory().user


def test_the_database_keeps_the_digest_never_the_token(staff):
    created = create_api_token(user=staff, name="desk tablet")
    token = ApiToken.objects.get()
    assert token.digest == hashlib.sha256(created.secret.encode()).hexdigest()
    assert token.prefix == created.secret[:10] and len(created.secret) >= 40
    row = [str(value) for value in ApiToken.objects.values_list().get()]
    assert created.secret not in row
    assert token.expires_at - token.created_at == timedelta(days=365)


def test_a_token_authenticates_its_user_and_records_its_use(staff):
    created = create_api_token(user=staff, name="desk tablet")
    response = client_with(created.secret).get(ME)
    assert response.status_code == 200, response.content
    created.token.refresh_from_db()
    assert created.token.last_used_at is not None


def test_authentication_is_one_query_with_the_user(staff):
    created = create_api_token(user=staff, name="desk tablet")
    client = client_with(created.secret)
    for _ in range(2):  # the first use writes last_used_at, the second does not: one statement each
        with CaptureQueriesContext(connection) as queries:
            assert client.get(ME).status_code == 200
        token_queries = [q["sql"] for q in queries if "api_apitoken" in q["sql"]]
        assert len(token_queries) == 1 and "auth_user" in token_queries[0]


def test_last_used_is_written_at_most_once_a_minute(staff):
    created = create_api_token(user=staff, name="desk tablet")
    client = client_with(created.secret)
    recent = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=created.token.pk).update(last_used_at=recent)
    assert client.get(ME).status_code == 200
    assert ApiToken.objects.get().last_used_at == recent
    old = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.filter(pk=created.token.pk).update(last_used_at=old)
    assert client.get(ME).status_code == 200
    assert ApiToken.objects.get().last_used_at > old


def test_revoking_one_token_leaves_the_others_working(staff):
    first = create_api_token(user=staff, name="tablet 1")
    second = create_api_token(user=staff, name="tablet 2")
    revoke_api_token(token=first.token)
    refused = client_with(first.secret).get(ME)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    assert client_with(second.secret).get(ME).status_code == 200


@pytest.mark.parametrize(
    "secret",
    [
        "wrong",  # shorter than a prefix
        "x" * 43,  # unknown
        None,  # the right prefix with another secret: set below
        "a" * 200,
    ],
)
def test_unknown_secrets_are_refused_and_change_nothing(staff, secret):
    created = create_api_token(user=staff, name="tablet")
    if secret is None:
        secret = created.secret[:10] + "y" * 33
    response = client_with(secret).get(ME)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    assert ApiToken.objects.get().last_used_at is None


def test_an_expired_token_is_refused(staff):
    created = create_api_token(user=staff, name="tablet")
    ApiToken.objects.filter(pk=created.token.pk).update(
        created_at=timezone.now() - timedelta(days=2), expires_at=timezone.now() - timedelta(days=1)
    )
    response = client_with(created.secret).get(ME)
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_an_inactive_users_token_is_refused(staff):
    created = create_api_token(user=staff, name="tablet")
    staff.is_active = False
    staff.save()
    assert client_with(created.secret).get(ME).status_code == 401


def test_creation_and_revocation_are_audited(staff):
    station = staff.station_roles.get().station
    created = create_api_token(user=staff, name="tablet", station=station)
    revoke_api_token(token=created.token)
    revoke_api_token(token=created.token)  # again: nothing more to record
    made, revoked = AuditEvent.objects.order_by("pk")
    assert made.action == AuditEvent.Action.API_TOKEN_CREATED and made.target_id == str(created.token.pk)
    assert made.details["station"] == station.pk and made.details["user"] == staff.pk
    assert revoked.action == AuditEvent.Action.API_TOKEN_REVOKED
    assert AuditEvent.objects.count() == 2


# --- A station device's token acts at its station only -----------------------------------------


@pytest.fixture
def two_stations(db):
    """A staff user who works at stations A and B, a member, and a drop-off at each station."""
    EarningRuleFactory(points_per_carton=10, daily_carton_cap=20)
    a, b = StationFactory(), StationFactory()
    user = StationStaffFactory(station=a).user
    StationStaffFactory(user=user, station=b)
    member = MemberFactory()
    dropoffs = {
        station: record_dropoff(
            station=station, member_code=member.code, cartons=1, staff=user, idempotency_key=f"at-{station.pk}"
        ).dropoff
        for station in (a, b)
    }
    tablet = client_with(create_api_token(user=user, name="A's tablet", station=a).secret)
    return SimpleNamespace(a=a, b=b, user=user, member=member, dropoffs=dropoffs, tablet=tablet)


def keyed(client: APIClient, path: str, body: dict):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"test-{uuid.uuid4().hex}")


def test_a_station_token_logs_cartons_at_its_station_and_nowhere_else(two_stations):
    world = two_stations
    body = {"member_code": world.member.code, "cartons": 2}
    before = DropOff.objects.count()

    assert keyed(world.tablet, DROPOFFS, {**body, "station": world.a.pk}).status_code == 201
    refused = keyed(world.tablet, DROPOFFS, {**body, "station": world.b.pk})

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "token_for_another_station"
    assert DropOff.objects.count() == before + 1
    # The same user's partner-style token (no station) still reaches both stations.
    anywhere = client_with(create_api_token(user=world.user, name="laptop").secret)
    assert keyed(anywhere, DROPOFFS, {**body, "station": world.b.pk}).status_code == 201


def test_a_station_token_lists_and_voids_its_stations_dropoffs_only(two_stations):
    world = two_stations
    listed = world.tablet.get(DROPOFFS).json()["results"]
    assert [row["id"] for row in listed] == [world.dropoffs[world.a].pk]
    assert world.tablet.get(DROPOFFS, {"station": world.b.pk}).status_code == 403

    other = world.dropoffs[world.b]
    refused = keyed(world.tablet, f"{DROPOFFS}{other.pk}/void/", {"reason": "wrong member"})
    assert refused.status_code == 403
    other.refresh_from_db()
    assert other.status == DropOff.Status.ACCEPTED


def test_a_station_token_is_only_for_a_user_who_works_there(db):
    user, elsewhere = StationStaffFactory().user, StationFactory()
    with pytest.raises(ValidationError) as refused:
        create_api_token(user=user, name="tablet", station=elsewhere)
    assert "station" in refused.value.message_dict
    assert not ApiToken.objects.exists()

    client = Client()
    client.force_login(SuperuserFactory())
    response = client.post(
        reverse("admin:api_apitoken_add"), {"name": "tablet", "user": user.pk, "station": elsewhere.pk}
    )
    assert response.status_code == 200 and "station" in response.context["form"].errors
    assert not ApiToken.objects.exists()


# --- The admin ----------------------------------------------------------------------------------


def test_the_admin_shows_the_secret_once_on_creation(db):
    superuser = SuperuserFactory()
    device_user = StationStaffFactory().user
    client = Client()
    client.force_login(superuser)
    response = client.post(
        reverse("admin:api_apitoken_add"), {"name": "HZ tablet", "user": device_user.pk, "station": ""}
    )
    assert response.status_code == 200, response.content
    token = ApiToken.objects.get()
    secret = response.context["secret"]
    assert secret.startswith(token.prefix) and secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    listed = client.get(reverse("admin:api_apitoken_changelist")).content.decode()
    detail = client.get(reverse("admin:api_apitoken_change", args=[token.pk])).content.decode()
    assert token.prefix in listed and secret not in listed and secret not in detail
    assert token.digest not in detail
    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.API_TOKEN_CREATED)
    assert event.user == superuser


def test_the_admin_revokes_the_selected_tokens_only(db):
    superuser = SuperuserFactory()
    user = UserFactory()
    kept, revoked = create_api_token(user=user, name="kept"), create_api_token(user=user, name="revoked")
    client = Client()
    client.force_login(superuser)
    response = client.post(
        reverse("admin:api_apitoken_changelist"), {"action": "revoke", "_selected_action": [revoked.token.pk]}
    )
    assert response.status_code == 302
    assert ApiToken.objects.get(pk=revoked.token.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=kept.token.pk).revoked_at is None


def test_only_superusers_see_tokens_in_the_admin(db):
    staff = StationStaffFactory(user__is_staff=True).user
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("admin:api_apitoken_changelist")).status_code == 403
    assert client.get(reverse("admin:api_apitoken_add")).status_code == 403


# --- Converted authtoken keys --------------------------------------------------------------------


def test_the_migration_converts_drf_authtoken_keys_and_drops_their_table(db):
    user = UserFactory()
    key = "0123456789abcdef0123456789abcdef01234567"  # DRF's: 40 hex characters
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamptz NOT NULL, "
            "user_id integer NOT NULL)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, now() - interval '1 day', %s)", [key, user.pk])
    migration = import_module("api.migrations.0004_api_tokens")
    with connection.schema_editor() as schema_editor:
        migration.convert_authtoken_keys(django_apps, schema_editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.prefix) == (user, "converted", key[:10])
    assert client_with(key).get(ME).status_code == 200


def test_the_admins_token_form_shows(db):
    client = Client()
    client.force_login(SuperuserFactory())
    response = client.get(reverse("admin:api_apitoken_add"))
    assert response.status_code == 200 and 'name="station"' in response.content.decode()


def test_the_factorys_token_authenticates(db):
    token = ApiTokenFactory(user=StationStaffFactory().user)
    assert client_with(token.secret).get(ME).status_code == 200
