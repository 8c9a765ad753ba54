"""What the simulator is calibrated to: the published figures (../shared/CAMPAIGN.md) and the
campaign shapes that reproduce them, and the table that compares the two.

The national totals are calibration targets, not outcomes of chance: each day of a campaign
gets a fixed share of its cartons (DAY_WEIGHTS, a festival curve that peaks on 11 November),
and chance decides how they spread over cities, stations, members, drop-off sizes and hours.
The comparison table reads what the database holds (the daily totals written by
recycling.totals.aggregate_day, and the drop-offs), never the generator's own counters.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from recycling.models import DailyCityTotal, DailyStationTotal

STATIONS_AT_FULL_SCALE = 130_000
CITIES = 315

# Cartons left on each day of the 1-20 November window, relative to each other. Deliveries of
# the pre-sale orders arrive from 1 November, 11.11 itself is the peak, and the parcels of the
# festival keep arriving for a few days after it. 1-11 November carry 65.85% of the window:
# 3.95 million of 6 million cartons, "nearly 4 million".
DAY_WEIGHTS = (5.0, 5.5, 5.5, 4.8, 4.5, 4.3, 4.3, 4.5, 4.8, 5.5, 8.0, 6.2, 4.8, 3.9, 3.2, 2.8, 2.5, 2.2, 2.0, 1.8)
FESTIVAL_DAYS = 11  # 1-11 November: the festival ("during 11.11")

# Consumers sending a parcel in a recycled carton on an average festival day at full scale (each
# takes one carton): "more than 100,000 a day".
PARCELS_PER_FESTIVAL_DAY = 102_000


@dataclass(frozen=True)
class CampaignYear:
    year: int
    name: str
    cartons: int  # over the whole window, at scale 1.0
    target_cartons: int  # the published target at scale 1.0; RecyclingCampaign holds it scaled
    compared_with: int | None

    @property
    def start_day(self) -> date:
        return date(self.year, 11, 1)

    @property
    def end_day(self) -> date:
        return self.start_day + timedelta(days=len(DAY_WEIGHTS) - 1)

    @property
    def days(self) -> list[date]:
        return [self.start_day + timedelta(days=n) for n in range(len(DAY_WEIGHTS))]

    def day_cartons(self, scale: float) -> list[int]:
        """Cartons to collect on each day of the window at this scale (rounded cumulatively, so the
        totals by any day are the exact rounded shares)."""
        total = sum(DAY_WEIGHTS)
        cumulative, previous, result = 0.0, 0, []
        for weight in DAY_WEIGHTS:
            cumulative += weight
            upto = round(self.cartons * scale * cumulative / total)
            result.append(upto - previous)
            previous = upto
        return result

    @property
    def reuse_rate(self) -> float:
        """Cartons reused per carton collected; the same in both years."""
        return reuse_rate()


CAMPAIGNS = {
    2021: CampaignYear(2021, "2021 双11 绿色回收箱", cartons=4_000_000, target_cartons=4_000_000, compared_with=None),
    2022: CampaignYear(2022, "2022 双11 绿色回收箱", cartons=6_000_000, target_cartons=6_000_000, compared_with=2021),
}


def reuse_rate() -> float:
    festival_share = sum(DAY_WEIGHTS[:FESTIVAL_DAYS]) / sum(DAY_WEIGHTS)
    festival_cartons_per_day = CAMPAIGNS[2022].cartons * festival_share / FESTIVAL_DAYS
    return PARCELS_PER_FESTIVAL_DAY / festival_cartons_per_day


def minimum_scale() -> float:
    """Below this the smaller campaign (2021) has too few cartons for one drop-off per station."""
    return 0.0005


@dataclass(frozen=True)
class Figure:
    label: str
    published: str  # as the coverage puts it
    reference: float
    simulated: float | None  # scaled back to full scale where it is a count
    note: str = ""  # why a figure is not compared at this scale

    @property
    def relative_error(self) -> float | None:
        if self.simulated is None or self.note:
            return None
        return (self.simulated - self.reference) / self.reference


def stations_floored(scale: float) -> bool:
    """Each city has at least one station, so below 315/130,000 the station count stops scaling."""
    return round(STATIONS_AT_FULL_SCALE * scale) < CITIES


def calibration_figures(*, scale: float) -> list[Figure]:
    """The published 2022 figures beside what the database holds, scaled back by 1/scale."""
    c2022, c2021 = CAMPAIGNS[2022], CAMPAIGNS[2021]
    festival_end = c2022.start_day + timedelta(days=FESTIVAL_DAYS - 1)
    window = (c2022.start_day, c2022.end_day)
    stations = DailyStationTotal.objects.filter(day__range=window, dropoffs__gt=0).values("station").distinct().count()
    cities = DailyCityTotal.objects.filter(day__range=window, dropoffs__gt=0).values("city").distinct().count()
    by_11 = _sum(DailyCityTotal.objects.filter(day__range=(c2022.start_day, festival_end)), "cartons")
    by_20 = _sum(DailyCityTotal.objects.filter(day__range=window), "cartons")
    earlier = _sum(DailyCityTotal.objects.filter(day__range=(c2021.start_day, c2021.end_day)), "cartons")
    reused = _sum(DailyCityTotal.objects.filter(day__range=(c2022.start_day, festival_end)), "cartons_reused")
    has_2022 = DailyCityTotal.objects.filter(day__range=window).exists()
    floored = stations_floored(scale)
    return [
        Figure(
            _("Stations taking part"),
            _("about 130,000"),
            STATIONS_AT_FULL_SCALE,
            stations / scale if has_2022 else None,
            _("not scaled below %(scale)s: every city keeps one station") % {"scale": f"{CITIES / 130_000:.4f}"}
            if floored
            else "",
        ),
        Figure(_("Cities taking part"), _("315"), CITIES, cities if has_2022 else None),
        Figure(
            _("Cartons recycled 1-11 Nov 2022"), _("nearly 4 million"), 4_000_000, by_11 / scale if has_2022 else None
        ),
        Figure(
            _("Cartons recycled 1-20 Nov 2022"), _("about 6 million"), 6_000_000, by_20 / scale if has_2022 else None
        ),
        Figure(
            _("Growth on 2021, same window (%)"),
            _("about +50%"),
            50.0,
            (by_20 / earlier - 1) * 100 if has_2022 and earlier else None,
            "" if earlier else _("no 2021 campaign in the database: run --year 2021 first"),
        ),
        Figure(
            _("Consumers a day sending parcels in recycled cartons, 1-11 Nov"),
            _("more than 100,000"),
            100_000,
            reused / FESTIVAL_DAYS / scale if has_2022 else None,
        ),
    ]


def format_table(figures: list[Figure]) -> str:
    header = (_("Figure"), _("Published"), _("Reference"), _("Simulated"), _("Error"))
    rows = []
    for figure in figures:
        simulated = "-" if figure.simulated is None else f"{figure.simulated:,.1f}"
        error = figure.note or ("-" if figure.relative_error is None else f"{figure.relative_error:+.2%}")
        rows.append((figure.label, figure.published, f"{figure.reference:,.0f}", simulated, error))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def campaign_summary(year: int) -> dict[str, int]:
    """Totals of one simulated campaign from its daily city totals (for the command's report)."""
    campaign = CAMPAIGNS[year]
    totals = DailyCityTotal.objects.filter(day__range=(campaign.start_day, campaign.end_day)).aggregate(
        cartons=Sum("cartons"), dropoffs=Sum("dropoffs"), reused=Sum("cartons_reused"), days=Count("day", distinct=True)
    )
    return {key: value or 0 for key, value in totals.items()}


def _sum(queryset, field: str) -> int:
    return queryset.aggregate(total=Sum(field))["total"] or 0
