"""One JSON error shape for every kind of refusal, translated into the request's language."""

import pytest

DROPOFFS = "/api/v1/dropoffs/"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_validation_error(world, client_for):
    error = assert_error(
        client_for("staff_a").post(DROPOFFS, {"station": world.station_a.pk, "cartons": 0}, format="json"),
        400,
        "invalid",
    )
    assert set(error["fields"]) == {"member_code", "cartons"}


def test_malformed_json(world, client_for):
    response = client_for("staff_a").post(DROPOFFS, data=b'{"station": ', content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_not_json(world, client_for):
    response = client_for("staff_a").post(DROPOFFS, data="station=1", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_unauthenticated(world, client_for):
    response = client_for("anonymous").get(DROPOFFS)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_bad_token(world):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert_error(client.get(DROPOFFS), 401, "authentication_failed")


def test_permission_denied(world, client_for):
    assert_error(client_for("member_x").get("/api/v1/totals/cities/"), 403, "not_ops")


def test_domain_refusal_in_the_services_words(world, client_for):
    body = {"station": world.station_b.pk, "member_code": world.member_x.code, "cartons": 1}
    response = client_for("staff_a").post(DROPOFFS, body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    error = assert_error(response, 403, "not_station_staff")
    assert error["message"] == "You do not work at this station."


@pytest.mark.parametrize(
    "url",
    ["/api/v1/dropoffs/999999/", "/api/v1/no-such-thing/", "/api/nothing", "/api/v1/stations/?page=99"],
)
def test_not_found(world, client_for, url):
    assert_error(client_for("staff_a").get(url), 404, "not_found")


def test_method_not_allowed(world, client_for):
    assert_error(client_for("staff_a").delete(DROPOFFS), 405, "method_not_allowed")


def test_conflict(world, client_for):
    staff = client_for("staff_a")
    url = f"/api/v1/dropoffs/{world.dropoff.pk}/void/"
    staff.post(url, {"reason": "typo"}, format="json")
    assert_error(staff.post(url, {"reason": "typo"}, format="json"), 409, "already_voided")


def test_unprocessable(world, client_for):
    body = {"station": world.station_a.pk, "member_code": "NOSUCHMEMBER2345", "cartons": 1}
    assert_error(client_for("staff_a").post(DROPOFFS, body, format="json"), 422, "unknown_member")


def test_throttled_per_user(world, client_for, throttle_rates):
    throttle_rates(user="2/min")
    member = client_for("member_x")
    assert member.get("/api/v1/me/").status_code == 200
    assert member.get("/api/v1/me/").status_code == 200
    response = member.get("/api/v1/me/")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert client_for("member_y").get("/api/v1/me/").status_code == 200  # another user's count


def test_throttled_per_station_whoever_posts(world, client_for, throttle_rates):
    from tests.factories import StationStaffFactory

    from .conftest import token_client

    throttle_rates(station="2/min")
    colleague = token_client(StationStaffFactory(station=world.station_a).user)
    body = {"station": world.station_a.pk, "member_code": world.member_x.code, "cartons": 1}
    assert client_for("staff_a").post(DROPOFFS, body, format="json").status_code == 201
    assert colleague.post(DROPOFFS, body, format="json").status_code == 201
    assert_error(colleague.post(DROPOFFS, body, format="json"), 429, "throttled")
    other_station = {"station": world.station_b.pk, "member_code": world.member_y.code, "cartons": 1}
    assert client_for("staff_b").post(DROPOFFS, other_station, format="json").status_code == 201


def test_messages_follow_the_request_language(world, client_for):
    client = client_for("staff_a")
    english = client.get("/api/v1/dropoffs/999999/", HTTP_ACCEPT_LANGUAGE="en").json()["error"]
    chinese = client.get("/api/v1/dropoffs/999999/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()["error"]
    assert english["code"] == chinese["code"] == "not_found"
    assert english["message"] == "Not found."
    assert chinese["message"] != english["message"]
