"""Serializers that write their output by hand (for speed) give what their declared fields give."""

import pytest
from rest_framework import serializers

from api.serializers import DropOffSerializer
from recycling.models import DropOff
from recycling.services import void_dropoff

pytestmark = pytest.mark.django_db


def through_the_fields(serializer_class, instance) -> dict:
    """What DRF's Serializer.to_representation makes of the instance from the declared fields."""
    return dict(serializers.Serializer.to_representation(serializer_class(), instance))


def test_a_drop_off_reads_as_its_fields_say_accepted_and_voided(world, client_for):
    body = {"station": world.station_a.pk, "member_code": world.member_x.code, "cartons": 2}
    created = client_for("staff_a").post("/api/v1/dropoffs/", body, format="json")
    assert created.status_code == 201
    dropoff = DropOff.objects.select_related("station", "member").get(pk=created.json()["id"])
    assert created.json() == through_the_fields(DropOffSerializer, dropoff)
    assert created.json()["occurred_at"].endswith("+08:00")

    void_dropoff(dropoff_id=dropoff.pk, staff=world.staff_a, reason="typo")
    voided = DropOff.objects.select_related("station", "member").get(pk=dropoff.pk)
    assert voided.voided_at is not None
    assert DropOffSerializer(voided).data == through_the_fields(DropOffSerializer, voided)
