"""stations/migrations/0005 names the cities an earlier simulator made from GeoNames."""

import importlib

from django.apps import apps

from stations.models import City
from tests.factories import CityFactory

migration = importlib.import_module("stations.migrations.0005_city_names_from_divisions")


def test_cities_of_an_earlier_release_get_their_division_code_and_current_names(db):
    """As the previous release's data has them (tests/fixtures/release_575ec8b.sql.gz)."""
    old = [
        ("XY", "Xiangyang", "襄樊", "湖北"),
        ("GJ", "Gujangbagh", "和田", "新疆"),
        ("FH", "Fuzhou", "抚州", "江西"),
        ("BU", "Basuo", "东方", "海南"),
        ("LW", "Laiwu", "莱芜", "山东"),
    ]
    for code, name, name_zh, province in old:
        CityFactory(code=code, name=name, name_zh=name_zh, province=province, division_code=None)
    migration.name_cities_from_divisions(apps, None)
    named = {c.code: (c.division_code, c.name, c.name_zh) for c in City.objects.all()}
    assert named == {
        "XY": ("420600", "Xiangyang", "襄阳"),
        "GJ": ("653200", "Hotan", "和田"),
        "FH": ("361000", "Fuzhou (Jiangxi)", "抚州"),
        "BU": ("469007", "Dongfang", "东方"),
        "LW": (None, "Laiwu", "莱芜"),  # no city any more: left as it was, with its stations
    }
