"""The ops pages: national overview, a city, anomaly flags, and every table of them as CSV.

Each page's tables are built by one function (`_overview`, `_city`, `_anomalies`) that both the
HTML view and the CSV view call, so a download holds the numbers of the table on the page.
Views only parse the filters and pick a template; the reads are in selectors and anomalies.
"""

from datetime import date, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record_event
from recycling import reviews
from recycling.errors import DomainError
from recycling.models import DropOff, FlagReview
from recycling.selectors import flag_dropoffs
from stations.models import City

from . import anomalies, selectors
from .access import ops_required
from .forms import FilterForm, FlagDecisionForm
from .tables import Cell, Table, growth_percent, percent

STATIONS_PER_PAGE = 50
FLAGS_ON_CITY_PAGE = 50  # a city's page lists the first flags; its CSV and the anomaly page all


def _no_flags() -> str:
    """What an empty flags table says: nothing was flagged (not that data is missing)."""
    return _("No flags on these days.")


def _filters(request: HttpRequest) -> FilterForm:
    return FilterForm(request.GET or None, campaigns=selectors.campaigns(), cities=selectors.cities())


def _query(window: selectors.Window, **extra) -> str:
    params = {"campaign": window.campaign.pk, "start": window.start.isoformat(), "end": window.end.isoformat()}
    params.update({k: v for k, v in extra.items() if v not in (None, "")})
    return urlencode(params)


def _dropoffs_url(flag: anomalies.Flag) -> str:
    """The DropOff admin changelist filtered to the station and the (Shanghai) day."""
    query = urlencode(
        {
            "station__city__id__exact": flag.city_id,
            "station": flag.station_id,
            "occurred_at__year": flag.day.year,
            "occurred_at__month": flag.day.month,
            "occurred_at__day": flag.day.day,
        }
    )
    return f"{reverse('admin:recycling_dropoff_changelist')}?{query}"


def _daily_table(
    slug: str, caption: str, series: selectors.Series, *, members_label: str, compared: bool = True
) -> Table:
    """The window's days, one a row; with `compared`, the compared campaign's matching days beside them."""
    compared_columns = [_("Compared day"), _("Compared cartons"), _("Compared cumulative")] if compared else []
    table = Table(
        slug=slug,
        caption=caption,
        columns=[
            _("Day"),
            _("Cartons"),
            _("Cumulative cartons"),
            *compared_columns,
            _("Drop-offs"),
            members_label,
            _("Points issued"),
            _("Points redeemed"),
            _("Points donated"),
            _("kg CO2e avoided"),
            _("Cartons reused"),
            _("Reuse rate (%)"),
        ],
    )
    for d in series.days:
        table.add(
            d.day,
            d.cartons,
            d.cumulative,
            *((d.compared_day, d.compared_cartons, d.compared_cumulative) if compared else ()),
            d.dropoffs,
            d.members,
            d.points_issued,
            d.points_redeemed,
            d.points_donated,
            d.co2e_kg,
            d.cartons_reused,
            percent(d.cartons_reused, d.cartons),
        )
    return table


def _summary_table(slug: str, caption: str, window, series, *, members_label: str, extra=()) -> Table:
    t = series.totals
    table = Table(slug=slug, caption=caption, columns=[_("Figure"), _("Value")])
    rows = [
        (_("Cartons"), t.cartons),
        (_("Compared campaign, same days: cartons"), t.compared_cartons),
        (_("Growth on the compared campaign (%)"), growth_percent(t.cartons, t.compared_cartons)),
        (_("Drop-offs"), t.dropoffs),
        (members_label, t.members),
        (_("Points issued"), t.points_issued),
        (_("Points redeemed"), t.points_redeemed),
        (_("Points donated"), t.points_donated),
        (_("kg CO2e avoided"), t.co2e_kg),
        (_("Cartons reused"), t.cartons_reused),
        (_("Reuse rate (%)"), percent(t.cartons_reused, t.cartons)),
        *extra,
    ]
    for label, value in rows:
        table.add(label, value)
    return table


def _chart(series: selectors.Series, *, title: str, target: int | None = None) -> dict:
    """What charts.js draws: daily cartons (bars), cumulative and compared cumulative (lines).
    Plain JSON for plotly.js in the browser (no figure is built in Python)."""
    chart = {
        "title": title,
        "days": [d.day.isoformat() for d in series.days],
        "cartons": [d.cartons for d in series.days],
        "cumulative": [d.cumulative for d in series.days],
        "compared": [d.compared_cumulative for d in series.days],
        "labels": {
            "cartons": _("Cartons a day"),
            "cumulative": _("Cumulative cartons"),
            "compared": _("Compared campaign, cumulative"),
            "target": _("Target"),
            "day": _("Day"),
            "axis_daily": _("Cartons a day"),
            "axis_cumulative": _("Cumulative cartons"),
        },
    }
    if target:
        chart["target"] = target
    return chart


# Page builders ---------------------------------------------------------------------------------


def _overview(window: selectors.Window) -> dict:
    series = selectors.daily_series(window=window)
    national = selectors.national_station_figures(window=window)
    members_label = _("Member-days by city")
    campaign = window.campaign
    summary = _summary_table(
        "overview-summary",
        _("National figures, %(start)s to %(end)s") % {"start": window.start, "end": window.end},
        window,
        series,
        members_label=members_label,
        extra=[
            (_("Target (cartons, whole campaign)"), campaign.target_cartons),
            (_("Share of the target reached (%)"), percent(series.totals.cartons, campaign.target_cartons)),
            (_("Stations with activity"), national.stations),
            (_("Median cartons per station"), national.median),
        ],
    )
    summary.rows.insert(1, summary.rows.pop(-4))  # the target right after the cartons
    summary.rows.insert(2, summary.rows.pop(-3))
    daily = _daily_table("overview-daily", _("Cartons day by day"), series, members_label=members_label)
    cities = Table(
        slug="overview-top-cities",
        caption=_("Top %(n)d cities by cartons") % {"n": selectors.TOP},
        columns=[
            _("Rank"),
            _("City"),
            _("Name"),
            _("Cartons"),
            _("Share of national (%)"),
            members_label,
            _("Cartons reused"),
            _("kg CO2e avoided"),
        ],
    )
    every_city = selectors.top_cities(window=window, limit=None)
    for row in every_city[: selectors.TOP]:
        href = reverse("dashboards:city", args=[row.code]) + "?" + _query(window)
        cities.add(
            row.rank,
            row.code,
            f"{row.name_zh} {row.name}",
            row.cartons,
            percent(row.cartons, series.totals.cartons),
            row.members,
            row.cartons_reused,
            row.co2e_kg,
            hrefs={1: href},
        )
    stations = _stations_table(
        "overview-top-stations",
        _("Top %(n)d stations by cartons") % {"n": selectors.TOP},
        national.top,
        median=national.median,
        note=_station_figures_note(national, series),
    )
    return {
        "series": series,
        "national": national,
        "kpis": {
            "cartons": series.totals.cartons,
            "share": percent(series.totals.cartons, campaign.target_cartons),
            "growth": growth_percent(series.totals.cartons, series.totals.compared_cartons),
        },
        "tables": [summary, daily, cities, stations],
        "chart": _chart(series, title=_("Cartons, national"), target=campaign.target_cartons),
        "map": _map(window, every_city),
    }


def _map(window: selectors.Window, rows: list[selectors.CityRow]) -> dict:
    """What charts.js draws as the map: each city with cartons in the window a bubble at its
    coordinates (longitude as x, latitude as y), its area in proportion to its cartons, linking
    to its page. No borders or outlines: see the note under the map."""
    placed = [row for row in rows if row.latitude is not None and row.longitude is not None]
    query = _query(window)
    return {
        "title": _("Cartons by city, %(start)s to %(end)s") % {"start": window.start, "end": window.end},
        "lon": [float(row.longitude) for row in placed],
        "lat": [float(row.latitude) for row in placed],
        "cartons": [row.cartons for row in placed],
        "names": [f"{row.name_zh} {row.name}" for row in placed],
        "hrefs": [reverse("dashboards:city", args=[row.code]) + "?" + query for row in placed],
        "labels": {
            "cartons": _("Cartons"),
            "lon": _("Longitude (°E)"),
            "lat": _("Latitude (°N)"),
        },
    }


def _station_figures_note(national: selectors.NationalStationFigures, series: selectors.Series) -> str:
    """Where a page's station figures come from, and how fresh they are."""
    if national.live and series.window.is_campaign_to_date:
        return _(
            "The campaign's station totals have not been computed yet: these station figures are summed "
            "from the daily station totals on every view, which takes longer, until the next recompute."
        )
    if national.live:
        return _(
            "A custom date range: these station figures are summed from the daily station totals on "
            "every view, which takes longer than the campaign's whole window (the default), whose "
            "station totals are computed in advance."
        )
    as_of = timezone.localtime(national.computed_at).strftime("%Y-%m-%d %H:%M")
    note = _("Station figures as of %(time)s (the campaign's station totals).") % {"time": as_of}
    if series.computed_at is not None and series.computed_at > national.computed_at:
        note += " " + _("The daily totals changed since; the station totals are being refreshed.")
    return note


def _stations_table(slug, caption, rows, *, median, note="", flags_by_station=None) -> Table:
    columns = [
        _("Rank"),
        _("Station"),
        _("Name"),
        _("City"),
        _("Cartons"),
        _("Days with activity"),
        _("Cartons per active day"),
        _("Against the national median (%)"),
        _("Drop-offs"),
        _("Cartons reused"),
    ]
    if flags_by_station is not None:
        columns.append(_("Flagged days"))
    table = Table(slug=slug, caption=caption, columns=columns, note=note)
    for row in rows:
        values = [
            row.rank,
            row.code,
            row.name,
            row.city_code,
            row.cartons,
            row.days,
            round(row.per_day, 1),
            percent(row.cartons, median),
            row.dropoffs,
            row.cartons_reused,
        ]
        if flags_by_station is not None:
            values.append(flags_by_station.get(row.station_id, 0))
        table.add(*values)
    return table


def _flags_table(slug: str, caption: str, flags: list[anomalies.Flag]) -> Table:
    table = Table(
        slug=slug,
        caption=caption,
        columns=[
            _("Day"),
            _("Station"),
            _("Name"),
            _("City"),
            _("Cartons"),
            _("City's upper quartile that day"),
            _("Fence (cartons)"),
            _("Stations of the city that day"),
            _("Drop-offs in the admin"),
        ],
        row_headers=2,
        empty=_("No flags on these days (a city is judged on a day when %(n)d or more of its stations have cartons).")
        % {"n": anomalies.MIN_STATIONS},
    )
    for flag in flags:
        table.add(
            flag.day,
            flag.station_code,
            flag.station_name,
            flag.city_code,
            flag.cartons,
            round(flag.fence.median_like, 1),
            round(flag.fence.limit, 1),
            flag.fence.stations,
            _("Drop-offs"),
            hrefs={8: _dropoffs_url(flag)},
        )
    return table


def _city(window: selectors.Window, city: City, *, page: int, full: bool = False) -> dict:
    """The city page's tables: one page of its stations and its first flags, or (full, for the
    CSV files) every row."""
    series = selectors.daily_series(window=window, city=city)
    national = selectors.national_station_figures(window=window, top=False)
    offset = 0 if full else (page - 1) * STATIONS_PER_PAGE
    ranked = selectors.city_stations(
        window=window,
        city=city,
        national=national,
        offset=offset,
        limit=None if full else STATIONS_PER_PAGE,
    )
    flags = anomalies.flag_station_days(window=window, city=city)
    flags_by_station: dict[int, int] = {}
    for flag in flags:
        flags_by_station[flag.station_id] = flags_by_station.get(flag.station_id, 0) + 1
    members_label = _("Distinct members (summed over days)")
    summary = _summary_table(
        "city-summary",
        _("%(city)s, %(start)s to %(end)s") % {"city": city.display_name, "start": window.start, "end": window.end},
        window,
        series,
        members_label=members_label,
        extra=[
            (_("Stations with activity"), ranked.count),
            (_("National median cartons per station"), national.median),
            (_("Flagged station-days"), len(flags)),
        ],
    )
    daily = _daily_table("city-daily", _("Cartons day by day"), series, members_label=_("Distinct members"))
    stations = _stations_table(
        "city-stations",
        _("Stations ranked by cartons"),
        ranked.rows,
        median=national.median,
        note=_station_figures_note(national, series),
        flags_by_station=flags_by_station,
    )
    shown = flags if full else flags[:FLAGS_ON_CITY_PAGE]
    flagged = _flags_table("city-anomalies", _("Anomaly flags"), shown)
    if len(shown) < len(flags):
        flagged.note = _(
            "The first %(shown)d of %(count)d flagged station-days; the CSV file and the anomaly flags "
            "page list them all."
        ) % {"shown": len(shown), "count": len(flags)}
    pages = max(1, -(-ranked.count // STATIONS_PER_PAGE))
    return {
        "city": city,
        "series": series,
        "national": national,
        "tables": [summary, daily, stations, flagged],
        "chart": _chart(series, title=_("Cartons, %(city)s") % {"city": city.display_name}),
        "page": page,
        "pages": pages,
        "station_count": ranked.count,
    }


def _anomalies(window: selectors.Window, day: date, city: City | None) -> dict:
    """The anomaly page's tables: the station-day flags and the drop-off signals, one city over
    the range or every city on one day, each flag with its review (recycling.reviews)."""
    where = {"city": city} if city else {"day": day}
    station_days = anomalies.flag_station_days(window=window, **where)
    caps = anomalies.flag_cap_at_stations(window=window, **where)
    staff = anomalies.flag_staff_days(window=window, **where)
    late = anomalies.flag_late_records(window=window, **where)
    decided = reviews.decisions(flags=[(f.kind, f.subject) for f in (*station_days, *caps, *staff, *late)])
    caption = (
        _("Anomaly flags in %(city)s, %(start)s to %(end)s")
        % {"city": city.display_name, "start": window.start, "end": window.end}
        if city
        else _("Anomaly flags in every city on %(day)s") % {"day": day}
    )
    station_table = _flags_table("anomalies", caption, station_days)
    _add_review_column(station_table, station_days, decided)
    return {
        "tables": [
            station_table,
            _cap_table(caps, decided),
            _staff_table(staff, decided),
            _late_table(late, decided),
        ],
        "day": day,
    }


def _review_cell(flag, decided: dict) -> tuple[str, str]:
    """The text and link of a flag's review cell: its decision, or "To review"."""
    review = decided.get((flag.kind, flag.subject))
    href = reverse("dashboards:flag", args=[flag.kind, flag.subject])
    return (review.get_decision_display() if review else _("To review")), href


def _add_review_column(table: Table, flags: list, decided: dict) -> None:
    table.columns.append(_("Review"))
    for row, flag in zip(table.rows, flags, strict=True):
        text, href = _review_cell(flag, decided)
        row.append(Cell(text, href))


def _cap_table(flags: list[anomalies.CapFlag], decided: dict) -> Table:
    table = Table(
        slug="anomalies-cap-stations",
        caption=_("Members at the daily cap at %(n)d or more stations in a day") % {"n": anomalies.MIN_CAP_STATIONS},
        columns=[_("Day"), _("Member"), _("Stations"), _("Cartons"), _("Cartons earning points"), _("Daily cap")],
        row_headers=2,
        empty=_no_flags(),
    )
    for flag in flags:
        table.add(flag.day, flag.member, flag.stations, flag.cartons, flag.earning_cartons, flag.cap)
    _add_review_column(table, flags, decided)
    return table


def _staff_table(flags: list[anomalies.StaffFlag], decided: dict) -> Table:
    table = Table(
        slug="anomalies-staff",
        caption=_("Staff users far above their city's norm that day"),
        columns=[
            _("Day"),
            _("Staff user"),
            _("City"),
            _("Cartons logged"),
            _("Drop-offs"),
            _("City's upper quartile that day"),
            _("Fence (cartons)"),
            _("Staff users of the city that day"),
        ],
        row_headers=2,
        empty=_no_flags(),
    )
    for flag in flags:
        table.add(
            flag.day,
            flag.username,
            flag.city_code,
            flag.cartons,
            flag.dropoffs,
            round(flag.fence.median_like, 1),
            round(flag.fence.limit, 1),
            flag.fence.stations,
        )
    _add_review_column(table, flags, decided)
    return table


def _late_table(flags: list[anomalies.LateFlag], decided: dict) -> Table:
    table = Table(
        slug="anomalies-late",
        caption=_("Drop-offs recorded more than %(hours)d hours after they happened")
        % {"hours": anomalies.late_flag_after().total_seconds() // 3600},
        columns=[
            _("Drop-off"),
            _("Happened"),
            _("Recorded"),
            _("Hours late"),
            _("Station"),
            _("Logged by"),
            _("Cartons"),
            _("Points"),
            _("Status"),
        ],
        empty=_no_flags(),
    )
    statuses = dict(DropOff.Status.choices)
    for flag in flags:
        table.add(
            flag.dropoff_id,
            _when(flag.occurred_at),
            _when(flag.recorded_at),
            flag.hours_late,
            flag.station_code,
            flag.logged_by,
            flag.cartons,
            flag.points,
            str(statuses.get(flag.status, flag.status)),
        )
    _add_review_column(table, flags, decided)
    return table


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _now(today: date) -> dict:
    """The "now" page: today, the last 7 and 30 days and all time, side by side, then the last 30
    days day by day (chart and table) and the top cities of the last 7 days, all from the daily
    city totals (dashboards.selectors.recent_totals, daily_series and top_cities)."""
    recent = selectors.recent_totals(today=today)
    labels = {
        "today": _("Today"),
        "7_days": _("Last 7 days"),
        "30_days": _("Last 30 days"),
        "all_time": _("All time"),
    }
    periods = Table(
        slug="now-periods",
        caption=_("National figures up to %(day)s") % {"day": today},
        columns=[_("Figure"), *(labels[p.key] for p in recent.periods)],
    )
    for label, name in (
        (_("Cartons"), "cartons"),
        (_("Drop-offs"), "dropoffs"),
        (_("Member-days by city"), "members"),
        (_("Points issued"), "points_issued"),
        (_("Points redeemed"), "points_redeemed"),
        (_("Points donated"), "points_donated"),
        (_("kg CO2e avoided"), "co2e_kg"),
        (_("Cartons reused"), "cartons_reused"),
    ):
        periods.add(label, *(getattr(p.figures, name) for p in recent.periods))
    last_30 = selectors.Window(campaign=None, start=today - timedelta(days=29), end=today)
    series = selectors.daily_series(window=last_30)
    daily = _daily_table(
        "now-daily",
        _("The last 30 days, day by day"),
        series,
        members_label=_("Member-days by city"),
        compared=False,
    )
    last_7 = selectors.Window(campaign=None, start=today - timedelta(days=6), end=today)
    cities = Table(
        slug="now-top-cities",
        caption=_("Top %(n)d cities of the last 7 days") % {"n": selectors.TOP},
        columns=[_("Rank"), _("City"), _("Name"), _("Cartons"), _("Member-days by city")],
    )
    for row in selectors.top_cities(window=last_7):
        cities.add(row.rank, row.code, f"{row.name_zh} {row.name}", row.cartons, row.members)
    if recent.today_computed_at is None:
        note = _("Today's totals have not been computed yet: they are recomputed every 5 minutes.")
    else:
        note = _(
            "Today's totals as of %(time)s; they are recomputed every 5 minutes, so a drop-off logged at a "
            "desk shows here within minutes."
        ) % {"time": timezone.localtime(recent.today_computed_at).strftime("%H:%M")}
    periods.note = note
    return {
        "recent": recent,
        "cards": [(p.key, labels[p.key], p.figures.cartons) for p in recent.periods],
        "tables": [periods, daily, cities],
        "chart": _chart(series, title=_("Cartons a day, the last 30 days")),
    }


# Views -----------------------------------------------------------------------------------------


def _page_number(request: HttpRequest) -> int:
    value = request.GET.get("page", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def _day(request: HttpRequest, window: selectors.Window) -> date:
    try:
        day = date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return window.end
    return day if window.start <= day <= window.end else window.end


@ops_required
def overview(request: HttpRequest) -> HttpResponse:
    form = _filters(request)
    window = form.window()
    city = form.chosen_city()
    if window is not None and city is not None:  # a city chosen in the filters opens its page
        url = reverse("dashboards:city", args=[city.code])
        return HttpResponseRedirect(f"{url}?{_query(window)}")
    context = {"form": form, "window": window, "tab": "overview"}
    if window is not None:
        context |= _overview(window)
        context["query"] = context["nav_query"] = _query(window)
    return render(request, "dashboards/overview.html", context)


@ops_required
def now(request: HttpRequest) -> HttpResponse:
    context = {"tab": "now", "today": timezone.localdate()}
    context |= _now(context["today"])
    return render(request, "dashboards/now.html", context)


@ops_required
def city(request: HttpRequest, code: str) -> HttpResponse:
    form = _filters(request)
    place = form.city_by_code.get(code.upper())
    if place is None:
        raise Http404
    window = form.window()
    context = {"form": form, "window": window, "tab": "city", "city": place}
    if window is not None:
        context |= _city(window, place, page=_page_number(request))
        context["query"] = _query(window, city=place.code)
        context["page_query"] = context["nav_query"] = _query(window)
    form.initial["city"] = place.code
    return render(request, "dashboards/city.html", context)


@ops_required
def anomaly_flags(request: HttpRequest) -> HttpResponse:
    form = _filters(request)
    window = form.window()
    place = form.chosen_city()
    context = {"form": form, "window": window, "tab": "anomalies", "city": place}
    if window is not None:
        day = _day(request, window)
        context |= _anomalies(window, day, place)
        context["query"] = _query(window, city=place.code if place else None, day=None if place else day.isoformat())
        context["nav_query"] = _query(window)
    return render(request, "dashboards/anomalies.html", context)


CSV_TABLES = {
    "overview-summary",
    "overview-daily",
    "overview-top-cities",
    "overview-top-stations",
    "city-summary",
    "city-daily",
    "city-stations",
    "city-anomalies",
    "anomalies",
    "anomalies-cap-stations",
    "anomalies-staff",
    "anomalies-late",
    "now-periods",
    "now-daily",
    "now-top-cities",
}


@ops_required
def table_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """One table of a page as CSV, for the same filters (a city's stations: all of them)."""
    if slug not in CSV_TABLES:
        raise Http404
    if slug.startswith("now-"):
        today = timezone.localdate()
        table = next(t for t in _now(today)["tables"] if t.slug == slug)
        details = {"table": slug, "day": today, "rows": len(table.rows)}
        record_event(action=AuditEvent.Action.CSV_EXPORTED, details=details)
        return table.csv_response(f"{slug}-{today.isoformat()}.csv")
    form = _filters(request)
    window = form.window()
    if window is None:
        raise Http404
    place = form.chosen_city()
    if slug.startswith("city-"):
        if place is None:
            raise Http404
        tables = _city(window, place, page=1, full=True)["tables"]
        name = f"{slug}-{place.code}"
    elif slug.startswith("anomalies"):
        day = _day(request, window)
        tables = _anomalies(window, day, place)["tables"]
        name = f"{slug}-{place.code}" if place else f"{slug}-{day.isoformat()}"
    else:
        tables = _overview(window)["tables"]
        name = slug
    table = next(t for t in tables if t.slug == slug)
    record_event(
        action=AuditEvent.Action.CSV_EXPORTED,
        details={
            "table": slug,
            "start": window.start,
            "end": window.end,
            "city": place.code if place else None,
            "rows": len(table.rows),
        },
    )
    return table.csv_response(f"{name}-{window.start.isoformat()}-{window.end.isoformat()}.csv")


FLAG_DROPOFFS_SHOWN = 200


@ops_required
def flag(request: HttpRequest, kind: str, subject: str) -> HttpResponse:
    """One anomaly flag: its drop-offs (the first FLAG_DROPOFFS_SHOWN), its decision once taken,
    and until then the form to mark it reviewed with a note or to void the chosen drop-offs
    (recycling.reviews, which audit both). Refused voids are listed after the redirect."""
    if kind not in FlagReview.Kind.values:
        raise Http404
    try:
        dropoffs = list(
            flag_dropoffs(kind=kind, subject=subject).select_related("station", "member", "logged_by")[
                :FLAG_DROPOFFS_SHOWN
            ]
        )
    except DomainError:
        raise Http404 from None
    review = FlagReview.objects.select_related("decided_by").filter(kind=kind, subject=subject).first()
    voidable = [d.pk for d in dropoffs if d.status == DropOff.Status.ACCEPTED]
    form = FlagDecisionForm(request.POST if request.method == "POST" and review is None else None, voidable=voidable)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            if data["decision"] == FlagDecisionForm.REVIEW:
                reviews.review_flag(kind=kind, subject=subject, note=data["note"], user=request.user)
            else:
                result = reviews.void_flagged_dropoffs(
                    kind=kind, subject=subject, dropoff_ids=data["dropoffs"], note=data["note"], user=request.user
                )
                for pk, error in result.refused:
                    messages.error(
                        request,
                        _("Drop-off #%(id)s was not voided: %(message)s") % {"id": pk, "message": error.message},
                    )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            return HttpResponseRedirect(request.get_full_path())
    context = {
        "kind": kind,
        "kind_label": FlagReview.Kind(kind).label,
        "subject": subject,
        "dropoffs": dropoffs,
        "shown_limit": FLAG_DROPOFFS_SHOWN,
        "review": review,
        "form": form,
        "tab": "anomalies",
        "back": reverse("dashboards:anomalies"),
    }
    return render(request, "dashboards/flag.html", context, status=400 if form.is_bound else 200)
