"""The home screen's QR code, the station finder, and the buttons that say what is missing."""

from decimal import Decimal

from django.urls import reverse
from django.utils import translation

from members.selectors import cities_by_province, haversine_km, last_used_station, nearest_stations
from members.templatetags.members_tags import reward_picture
from rewards.models import Redemption
from tests.factories import CityFactory, RewardFactory, StationFactory, StationStaffFactory, StationStockFactory

from .conftest import give_points, signed_in_client, snapshot


def test_home_puts_the_balance_and_the_qr_code_first_and_opens_it_full_screen(member_client, shop):
    html = member_client.get(reverse("members:home")).content.decode()
    first_card = html[html.index('<section class="card balance">') : html.index("</section>")]
    assert 'data-testid="balance"' in first_card and "<svg" in first_card
    assert reverse("members:member_code") in first_card
    full = member_client.get(reverse("members:member_code"))
    assert full.status_code == 200 and "<svg" in full.content.decode() and shop.member.code in full.content.decode()


def test_the_finder_groups_cities_by_province_with_pinyin_to_search(db):
    StationFactory(city=CityFactory(name="Hangzhou", name_zh="杭州", province="浙江"))
    StationFactory(city=CityFactory(name="Wenzhou", name_zh="温州", province="浙江"))
    StationFactory(city=CityFactory(name="Beijing", name_zh="北京", province="北京"))
    StationFactory(city=CityFactory(name="Hotan", name_zh="和田", province="新疆"))
    StationFactory(city=CityFactory(name="Dongfang", name_zh="东方", province="海南"), is_active=False)
    with translation.override("zh-hans"):
        provinces = cities_by_province()
    assert [p.name for p in provinces] == ["北京", "浙江", "新疆"]  # division-code order; no active station in 东方
    zhejiang = provinces[1]
    assert [item.city.name_zh for item in zhejiang.cities] == ["杭州", "温州"]  # by pinyin
    assert zhejiang.cities[0].search == "杭州 hangzhou hangzhou hz 浙江"
    assert "hetian" in provinces[2].cities[0].search and "hotan" in provinces[2].cities[0].search
    with translation.override("en"):
        assert [p.name for p in cities_by_province()] == ["Beijing", "Zhejiang", "Xinjiang"]


def test_the_finder_page_lists_the_cities_and_loads_its_script(member_client, shop):
    html = member_client.get(reverse("members:stations")).content.decode()
    assert 'id="city-search"' in html and 'data-search="' in html and "members/finder.js" in html
    assert 'id="near-me" hidden' in html  # shown by the script only where the browser has geolocation
    assert "<script>" not in html  # nothing inline: the CSP allows none
    policy = member_client.get(reverse("members:stations")).headers["Permissions-Policy"]
    assert "geolocation=(self)" in policy and "camera=()" in policy  # this page only may ask where you are
    assert "geolocation=()" in member_client.get(reverse("members:home")).headers["Permissions-Policy"]


def test_stations_near_me_are_the_nearest_first_with_their_distance(member_client, shop):
    city = shop.station.city
    near = StationFactory(city=city, name="Near", latitude=Decimal("30.2775"), longitude=Decimal("120.1300"))
    StationFactory(city=city, name="Far", latitude=Decimal("30.2085"), longitude=Decimal("120.2110"))
    closed = {"latitude": Decimal("30.2776"), "longitude": Decimal("120.1301"), "is_active": False}
    StationFactory(city=city, name="Closed", **closed)
    found = nearest_stations(latitude=30.2780, longitude=120.1310)
    assert [item.station.name for item in found] == ["Near", "Far"]
    assert 0.05 < found[0].km < 0.15 and 10 < found[1].km < 12
    response = member_client.get(reverse("members:stations") + "?near=30.27800,120.13100")
    html = response.content.decode()
    assert html.index("Near") < html.index("Far") and "110 m away" in html
    assert near.address in html


def test_a_bad_position_is_a_message_not_an_error(member_client, shop):
    for bad in ("north", "91,120", "30.2,200", "1,2,3", ""):
        response = member_client.get(reverse("members:stations"), {"near": bad})
        assert response.status_code == 200
        assert "The position is not a latitude and a longitude." in response.content.decode()


def test_haversine_is_the_great_circle_distance():
    assert round(haversine_km(30.2741, 120.1551, 31.2304, 121.4737)) == 165  # Hangzhou to Shanghai


def test_the_station_used_last_is_the_last_drop_off_or_the_saved_choice(db, shop):
    assert last_used_station(member=shop.member) == shop.station  # the conftest's drop-off
    elsewhere = StationStaffFactory()
    give_points(shop.member, 5, station=elsewhere.station, staff=elsewhere.user)
    assert last_used_station(member=shop.member) == elsewhere.station
    assert last_used_station(member=shop.member, saved_station_id=shop.station.pk) == shop.station
    closed = StationFactory(is_active=False)
    assert last_used_station(member=shop.member, saved_station_id=closed.pk) == elsewhere.station


def test_the_finder_and_the_catalog_open_at_the_station_used_last(member_client, shop):
    html = member_client.get(reverse("members:stations")).content.decode()
    assert "The station you used last" in html and shop.station.address in html
    other = StationFactory()
    member_client.get(reverse("members:rewards"), {"city": other.city_id, "station": other.pk})
    response = member_client.get(reverse("members:rewards"))  # the choice is remembered
    assert response.context["station"] == other


def test_reserve_is_disabled_and_says_how_many_points_are_missing(member_client, shop):
    hamper = RewardFactory(name="Hamper", points_cost=130)
    StationStockFactory(station=shop.station, reward=hamper, quantity=5)
    html = member_client.get(reverse("members:rewards")).content.decode()
    block = html[html.index(f'data-testid="reward-{hamper.pk}"') :]
    block = block[: block.index("</li>")]
    assert "disabled" in block and "30 more points needed" in block
    eggs = html[html.index(f'data-testid="reward-{shop.eggs.pk}"') :]
    assert "disabled" not in eggs[: eggs.index("</li>")]


def test_donate_is_disabled_and_says_how_many_points_are_missing(shop):
    poor = signed_in_client(shop.member)
    shop.campaign.points_per_notebook = 250
    shop.campaign.save()
    html = poor.get(reverse("members:donate")).content.decode()
    assert "150 more points needed" in html and 'disabled data-testid="missing"' in html


def test_a_refusal_for_points_speaks_to_the_member_in_chinese(shop):
    client = signed_in_client(shop.member, language="zh-hans")
    before = snapshot()
    data = {"notebooks": 3, "idempotency_key": "zh-1"}
    response = client.post(reverse("members:donate_to", args=[shop.campaign.pk]), data, follow=True)
    text = " ".join(str(m) for m in response.context["messages"])
    assert "您" in text and "会员" not in text
    assert snapshot() == before and not Redemption.objects.exists()


def test_every_reward_has_a_picture_shipped_with_the_app(shop):
    assert reward_picture(shop.eggs) == "members/rewards/eggs.svg"
    assert reward_picture(shop.tote) == "members/rewards/tote.svg"
    assert reward_picture(RewardFactory(name="Phone charger")) == "members/rewards/gift.svg"


def test_the_rewards_city_picker_is_grouped_by_province(member_client, shop):
    StationFactory(city=CityFactory(name="Hotan", name_zh="和田", province="新疆"))
    html = member_client.get(reverse("members:rewards")).content.decode()
    assert '<optgroup label="Xinjiang">' in html and ">Hotan</option>" in html
    selected = f'<option value="{shop.station.city_id}" selected>'
    assert selected in html  # the station used last is chosen
