"""Cities created before the division codes (by an earlier simulator, from GeoNames) get their
division code and the current names in both languages: 襄樊 is 襄阳, Gujangbagh is Hotan, the two
Fuzhous tell their provinces. A city the divisions do not know (莱芜, now part of 济南) is left as
it is: its stations, drop-offs and totals stay where they were."""

from django.db import migrations


def name_cities_from_divisions(apps, schema_editor):
    from stations.divisions import city_named

    City = apps.get_model("stations", "City")
    taken = set(City.objects.exclude(division_code=None).values_list("division_code", flat=True))
    for city in City.objects.filter(division_code=None).order_by("pk"):
        division = city_named(city.name_zh, province_zh=city.province)
        if division is None or division.code in taken:
            continue
        taken.add(division.code)
        city.division_code, city.name, city.name_zh = division.code, division.name, division.name_zh
        city.save(update_fields=["division_code", "name", "name_zh"])


class Migration(migrations.Migration):
    dependencies = [("stations", "0004_city_division_code")]

    operations = [migrations.RunPython(name_cities_from_divisions, migrations.RunPython.noop)]
