"""The cities and their names come from China's administrative divisions (stations.divisions)."""

from collections import Counter

from stations.divisions import china_cities, city_by_code, pinyin_name, short_name


def test_names_are_current_after_the_known_renamings_and_mergers():
    """襄樊 has been 襄阳 since 2010, 莱芜 is part of 济南 since 2019, and 和田 is Hotan in English."""
    names_zh = {city.name_zh for city in china_cities()}
    assert "襄阳" in names_zh and "襄樊" not in names_zh
    assert "莱芜" not in names_zh
    assert city_by_code("420600").name_zh == "襄阳"
    hotan = city_by_code("653200")
    assert (hotan.name_zh, hotan.full_name_zh, hotan.name, hotan.province) == ("和田", "和田地区", "Hotan", "Xinjiang")


def test_no_two_cities_share_a_displayed_name_in_either_language():
    cities = china_cities()
    assert [name for name, n in Counter(city.name for city in cities).items() if n > 1] == []
    assert [name for name, n in Counter(city.name_zh for city in cities).items() if n > 1] == []


def test_cities_with_the_same_pinyin_are_told_apart_by_their_province():
    assert city_by_code("350100").name == "Fuzhou (Fujian)"  # 福州
    assert city_by_code("361000").name == "Fuzhou (Jiangxi)"  # 抚州
    assert city_by_code("320500").name == "Suzhou (Jiangsu)"  # 苏州
    assert city_by_code("341300").name == "Suzhou (Anhui)"  # 宿州
    assert city_by_code("330100").name == "Hangzhou"  # a unique one keeps its plain name


def test_official_english_names_where_they_are_not_plain_pinyin():
    expected = {
        "653200": "Hotan",
        "653100": "Kashgar",
        "150100": "Hohhot",
        "650100": "Ürümqi",
        "540200": "Shigatse",
        "540100": "Lhasa",
        "230100": "Harbin",
    }
    assert {code: city_by_code(code).name for code in expected} == expected


def test_pinyin_follows_place_name_readings_and_spelling():
    assert pinyin_name("重庆") == "Chongqing"
    assert pinyin_name("长治") == "Changzhi"  # not Zhangzhi
    assert pinyin_name("朝阳") == "Chaoyang"
    assert pinyin_name("漯河") == "Luohe"
    assert pinyin_name("西安") == "Xi'an"  # the apostrophe before a syllable starting with a vowel
    assert pinyin_name("吕梁") == "Lüliang"
    assert city_by_code("230200").pinyin == "qiqihaer"  # what a member types, whatever the English


def test_what_counts_as_a_city():
    """The municipalities, the prefecture-level divisions and the county-level cities a province
    governs directly; not the municipalities' districts or other county-level cities."""
    codes = {city.code for city in china_cities()}
    assert {"110000", "310000", "500000", "330100", "469007", "429004"} <= codes  # 东方 and 仙桃 included
    assert not codes & {"110100", "330782"}  # 北京's 市辖区; 义乌, a county-level city of 金华
    assert short_name("延边朝鲜族自治州") == "延边"
    assert short_name("克孜勒苏柯尔克孜自治州") == "克孜勒苏"
    assert short_name("锡林郭勒盟") == "锡林郭勒"
    assert city_by_code("469007").province == "Hainan" and city_by_code("469007").name == "Dongfang"
