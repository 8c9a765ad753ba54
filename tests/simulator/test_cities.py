import re

from simulator.cities import CITY_COUNT, simulated_cities
from stations.divisions import PROVINCES, city_by_code
from stations.models import STATION_CODE_PATTERN


def test_the_cities_are_315_distinct_real_cities_with_provinces():
    """315 cities of the administrative divisions, largest first by GeoNames' population, each with
    a unique 2-4 letter code that makes valid station codes, its division code, unique names in
    both languages, a province and coordinates in China."""
    cities = simulated_cities()
    assert len(cities) == CITY_COUNT == 315
    assert len({city.code for city in cities}) == 315
    assert len({city.division_code for city in cities}) == 315
    assert len({city.name_zh for city in cities}) == 315
    assert len({city.name for city in cities}) == 315
    provinces = {name_zh for name_zh, _name in PROVINCES.values()}
    for city in cities:
        assert re.fullmatch(r"[A-Z]{2,4}", city.code)
        assert re.fullmatch(STATION_CODE_PATTERN, f"{city.code}-00042")
        assert city.province in provinces
        assert city_by_code(city.division_code).name_zh == city.name_zh
        assert 18 <= city.latitude <= 54 and 73 <= city.longitude <= 135
        assert not city.name_zh.endswith("市")
    populations = [city.population for city in cities]
    assert populations == sorted(populations, reverse=True)


def test_the_largest_cities_get_their_usual_codes():
    """Codes are pinyin initials, the largest city choosing first: the demo's HZ, SH and BJ are the same cities."""
    by_code = {city.code: city for city in simulated_cities()}
    assert (by_code["SH"].name, by_code["SH"].name_zh, by_code["SH"].province) == ("Shanghai", "上海", "上海")
    assert (by_code["BJ"].name, by_code["BJ"].name_zh) == ("Beijing", "北京")
    assert (by_code["HZ"].name, by_code["HZ"].name_zh, by_code["HZ"].province) == ("Hangzhou", "杭州", "浙江")
    assert by_code["SZ"].name == "Shenzhen"  # Suzhou, smaller, gets another code
    names = {city.name for city in simulated_cities()}
    assert "Gujangbagh" not in names and "Hotan" in names  # GeoNames' name for 和田's seat is not the city's
    assert {"襄阳", "东方"} <= {city.name_zh for city in simulated_cities()}
