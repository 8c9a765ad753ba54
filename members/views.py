"""The consumer pages. Views only collect input, call one service or selector, and render.

Every page but sign-up and sign-in needs a signed-in member (`member_required`): a member
reaches only their own data, since every query starts from request.member; another member's
redemption answers 404. A staff or ops login without a Member gets a page that says so.
Writes follow post/redirect/get, refusals come back as the service's message.
"""

import csv
import json
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.views import LoginView, LogoutView, PasswordChangeView, redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.csv_cells import neutralised
from core.headers import FEATURES_OFF
from ledger.errors import InsufficientPoints
from recycling.errors import DomainError
from recycling.selectors import member_figures
from recycling.services import register_member, set_display_name
from rewards.models import DonationCampaign, Redemption, Reward
from rewards.selectors import (
    EXPORT_SECTIONS,
    campaign_progress,
    donation_journeys,
    history_line,
    member_data_export,
    member_donations,
    member_redemption,
    member_redemptions,
    member_transfers,
    notebooks_funded,
    open_campaigns,
)
from rewards.services import cancel_redemption, delete_member_account, donate, reserve_reward
from stations.models import Station

from . import selectors
from .forms import (
    DeleteAccountForm,
    DisplayNameForm,
    DonateForm,
    MemberAuthenticationForm,
    NearForm,
    ReserveForm,
    SendCodeForm,
    SignUpForm,
    StationPickerForm,
)
from .lockout import CountedPasswordChangeMixin
from .qr import qr_svg
from .verification import get_verifier, send_verification_code

HISTORY_PAGE_SIZE = 20
STATIONS_PAGE_SIZE = 20
MY_DONATIONS_SHOWN = 20  # the donate page follows the member's latest donations to their schools
MEMBER_BACKEND = "recycling.auth.MobileNumberBackend"
# The station the member chose last (on the rewards page or the finder), kept in their session.
SAVED_STATION = "members:station"


def member_required(view: Callable) -> Callable:
    """Sign-in first (back here after), and members only; sets request.member (with its account)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("members:signin"))
        member = selectors.member_for_user(user=request.user)
        if member is None:
            return render(request, "members/not_member.html", status=403)
        request.member = member
        return view(request, *args, **kwargs)

    return wrapper


def _render(request: HttpRequest, template: str, context: dict | None = None, *, tab: str = "", status: int = 200):
    return render(
        request, template, {"member": getattr(request, "member", None), "tab": tab, **(context or {})}, status=status
    )


def _refusal_message(request: HttpRequest, refusal: DomainError, *, points: int = 0) -> str:
    """The service's refusal, said to the member: the ledger's "not enough points" speaks of
    "the member" (the desk and the API show it too), so the pages say it to them, with the
    `points` the write needed."""
    if isinstance(refusal, InsufficientPoints) and points:
        return _("This needs %(points)s points; you have %(balance)s.") % {
            "points": points,
            "balance": request.member.account.balance,
        }
    return refusal.message


def _first_error(form) -> str:
    for errors in form.errors.values():
        return errors[0]
    return _("Check the form and try again.")


# --- Signing up, in and out ---------------------------------------------------------------


@sensitive_post_parameters("mobile", "code", "password1", "password2")  # kept out of error reports
def signup(request: HttpRequest) -> HttpResponse:
    """Mobile number and password; the mobile is verified by members.verification (no SMS here)."""
    if selectors.member_for_user(user=request.user) is not None:
        return redirect("members:home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            member = register_member(
                mobile=form.cleaned_data["mobile"],
                password=form.cleaned_data["password1"],
                privacy_notice_version=settings.GREENBOX_PRIVACY_NOTICE_VERSION,  # the form required the tick
            )
        except ValidationError as error:  # registered by someone else since the form checked
            form.add_error("mobile", error)
        else:
            login(request, member.user, backend=MEMBER_BACKEND)
            messages.success(request, _("Welcome to GreenBox! Show your QR code at a station when you leave cartons."))
            return redirect("members:home")
    return _render(request, "members/signup.html", {"form": form, "requires_code": get_verifier().requires_code})


@require_POST
@sensitive_post_parameters("mobile")
def send_code(request: HttpRequest) -> HttpResponse:
    """Send a verification code by SMS, when a verifier that sends codes is configured."""
    if not get_verifier().requires_code:
        raise Http404
    form = SendCodeForm(request.POST)
    if form.is_valid():
        send_verification_code(mobile=form.cleaned_data["mobile"])
        text, css = _("We sent a code by SMS. It is valid for a few minutes."), "ok"
    else:
        text, css = _first_error(form), "error"
    return HttpResponse(format_html('<p class="note {}" role="status">{}</p>', css, text))


class SignInView(LoginView):
    form_class = MemberAuthenticationForm
    template_name = "members/signin.html"
    next_page = reverse_lazy("members:home")


class SignOutView(LogoutView):
    next_page = reverse_lazy("members:signin")


class ChangePasswordView(CountedPasswordChangeMixin, PasswordChangeView):
    """A wrong old password counts towards the sign-in lockout (members/lockout.py)."""

    template_name = "members/password_change.html"
    success_url = reverse_lazy("members:home")

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "member": self.request.member, "tab": ""}

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password has been changed."))
        return response


change_password = member_required(ChangePasswordView.as_view())


# --- Home and history ---------------------------------------------------------------------


@require_GET
@member_required
def home(request: HttpRequest) -> HttpResponse:
    member = request.member
    return _render(
        request,
        "members/home.html",
        {
            "figures": member_figures(member=member),
            "notebooks": notebooks_funded(member=member),
            "qr_svg": qr_svg(member.code),
        },
        tab="home",
    )


@require_GET
@member_required
def member_code(request: HttpRequest) -> HttpResponse:
    """The member QR code alone, full screen, black on white: what a counter scanner reads best."""
    return _render(request, "members/member_code.html", {"qr_svg": qr_svg(request.member.code)}, tab="home")


@require_GET
@member_required
def history(request: HttpRequest) -> HttpResponse:
    """The member's points, line by line with why they changed, newest first, 20 a page."""
    member = request.member
    page = Paginator(member_transfers(member=member), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    lines = [history_line(transfer=transfer, member=member) for transfer in page.object_list]
    return _render(request, "members/history.html", {"page": page, "lines": lines}, tab="history")


# --- Rewards ------------------------------------------------------------------------------


def _last_station(request: HttpRequest) -> Station | None:
    return selectors.last_used_station(member=request.member, saved_station_id=request.session.get(SAVED_STATION))


def _station_picker(request: HttpRequest) -> StationPickerForm:
    """The city and station from the query string, else the station the member used last."""
    data = request.GET
    if "city" not in data:
        last = _last_station(request)
        if last is not None:
            data = {"city": str(last.city_id), "station": str(last.pk)}
    return StationPickerForm(
        data,
        cities=selectors.cities_with_stations(),
        stations_in=selectors.active_stations,
        provinces=selectors.cities_by_province(),
    )


@require_GET
@member_required
def rewards(request: HttpRequest) -> HttpResponse:
    """The catalog, with what is in stock at the chosen station and a reserve form for each."""
    picker = _station_picker(request)
    station = picker.cleaned_data.get("station") if picker.is_valid() else None
    if station is not None:
        request.session[SAVED_STATION] = station.pk  # remembered for the next visit
    balance = request.member.account.balance
    catalog = [
        (
            reward,
            ReserveForm(initial={"reward": reward.pk, "station": station.pk}) if station else None,
            max(0, reward.points_cost - balance),  # points still missing for one
        )
        for reward in selectors.catalog_at_station(station=station)
    ]
    context = {"picker": picker, "station": station, "catalog": catalog}
    if request.htmx:  # the city or the station changed: only the picker and the catalog are redrawn
        return _render(request, "members/_catalog.html", context, tab="rewards")
    return _render(request, "members/rewards.html", context, tab="rewards")


def _catalog_url(station: Station | None) -> str:
    url = reverse("members:rewards")
    if station is None:
        return url
    return f"{url}?{urlencode({'city': station.city_id, 'station': station.pk})}"


@require_POST
@member_required
def reserve(request: HttpRequest) -> HttpResponse:
    form = ReserveForm(request.POST)
    if not form.is_valid():
        station = Station.objects.filter(pk=form.cleaned_data.get("station") or 0).first()
        messages.error(request, _first_error(form))
        return redirect(_catalog_url(station))
    station = Station.objects.filter(pk=form.cleaned_data["station"]).first()
    reward = Reward.objects.filter(pk=form.cleaned_data["reward"]).first()
    if station is None or reward is None:
        messages.error(request, _("Choose a reward and a station."))
        return redirect(_catalog_url(station))
    try:
        result = reserve_reward(
            member=request.member,
            reward=reward,
            station=station,
            quantity=form.cleaned_data["quantity"],
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except DomainError as refusal:
        needed = reward.points_cost * form.cleaned_data["quantity"]
        messages.error(request, _refusal_message(request, refusal, points=needed))
        return redirect(_catalog_url(station))
    request.session[SAVED_STATION] = station.pk
    if not result.replayed:
        messages.success(
            request,
            _("Reserved: show the pickup code at the station to collect. %(points)s points were taken.")
            % {"points": result.redemption.points},
        )
    return redirect("members:redemption", pk=result.redemption.pk)


@require_GET
@member_required
def redemptions(request: HttpRequest) -> HttpResponse:
    page = Paginator(member_redemptions(member=request.member), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return _render(request, "members/redemptions.html", {"page": page}, tab="rewards")


def _own_redemption(request: HttpRequest, pk: int) -> Redemption:
    redemption = member_redemption(member=request.member, redemption_id=pk)
    if redemption is None:
        raise Http404("No such redemption.")
    return redemption


@require_GET
@member_required
def redemption(request: HttpRequest, pk: int) -> HttpResponse:
    redemption = _own_redemption(request, pk)
    context = {"redemption": redemption}
    if redemption.status == Redemption.Status.RESERVED:
        context["pickup_qr"] = qr_svg(redemption.pickup_code)  # scanned at the desk's hand-out
    return _render(request, "members/redemption.html", context, tab="rewards")


@require_http_methods(["GET", "POST"])
@member_required
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks first (what is cancelled, the points that come back); the POST cancels."""
    redemption = _own_redemption(request, pk)
    if request.method == "GET":
        if redemption.status != Redemption.Status.RESERVED:
            return redirect("members:redemption", pk=pk)
        return _render(request, "members/cancel.html", {"redemption": redemption}, tab="rewards")
    was = redemption.status
    try:
        # No key: the button acts on a reservation that is still reserved, under its row lock, once.
        cancelled = cancel_redemption(redemption_id=pk, member=request.member).redemption
    except DomainError as refusal:
        messages.error(request, _refusal_message(request, refusal))
    else:
        if was == Redemption.Status.RESERVED:
            messages.success(
                request,
                _("Reservation cancelled: %(points)s points are back in your balance.") % {"points": cancelled.points},
            )
        else:
            messages.info(request, _("This reservation had already ended; nothing changed."))
    return redirect("members:redemption", pk=pk)


# --- Donations ----------------------------------------------------------------------------


@require_GET
@member_required
def donations(request: HttpRequest) -> HttpResponse:
    balance = request.member.account.balance
    campaigns = [
        (campaign, campaign_progress(campaign=campaign), DonateForm(), max(0, campaign.points_per_notebook - balance))
        for campaign in open_campaigns()
    ]
    mine = list(member_donations(member=request.member).order_by("-created_at", "-pk")[:MY_DONATIONS_SHOWN])
    journeys = donation_journeys(donations=mine)
    context = {"campaigns": campaigns, "my_donations": [(donation, journeys[donation.pk]) for donation in mine]}
    return _render(request, "members/donate.html", context, tab="donate")


@require_POST
@member_required
def donate_to(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(DonationCampaign, pk=pk)
    form = DonateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return redirect("members:donate")
    try:
        result = donate(
            member=request.member,
            campaign=campaign,
            notebooks=form.cleaned_data["notebooks"],
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except DomainError as refusal:
        needed = campaign.points_per_notebook * form.cleaned_data["notebooks"]
        messages.error(request, _refusal_message(request, refusal, points=needed))
        return redirect("members:donate")
    donation = result.donation
    if not result.replayed:
        messages.success(
            request,
            ngettext(
                "Thank you! Your %(points)s points fund %(notebooks)s notebook for %(campaign)s.",
                "Thank you! Your %(points)s points fund %(notebooks)s notebooks for %(campaign)s.",
                donation.notebooks,
            )
            % {"points": donation.points, "notebooks": donation.notebooks, "campaign": campaign.display_title},
        )
    return redirect("members:donate")


# --- Stations -----------------------------------------------------------------------------


def _station_rows(stations: list[Station]) -> list[tuple]:
    stock = selectors.stock_by_station(stations=stations)
    week = selectors.cartons_this_week(stations=stations)
    return [(station, stock[station.pk], week[station.pk]) for station in stations]


@require_GET
@member_required
def stations(request: HttpRequest) -> HttpResponse:
    """The station finder: the station used last, stations near the member (the browser sends its
    position as ?near=lat,lng when the member allows it), the cities by province with a filter
    (members/static/members/finder.js), and a city's stations: address, opening hours, rewards in
    stock and cartons this week."""
    cities = selectors.cities_with_stations()
    city = None
    requested = request.GET.get("city", "")
    if requested.isdigit():
        city = cities.filter(pk=requested).first()
    near = NearForm(request.GET) if "near" in request.GET else None
    page, rows, near_rows, distances = None, [], [], {}
    if near is not None and near.is_valid():
        found = selectors.nearest_stations(**near.cleaned_data)
        near_rows = _station_rows([item.station for item in found])
        distances = {item.station.pk: item.km for item in found}
    elif city is not None:
        page = Paginator(selectors.active_stations(city=city), STATIONS_PAGE_SIZE).get_page(request.GET.get("page"))
        rows = _station_rows(list(page.object_list))
    last = _last_station(request) if city is None and near is None else None
    context = {
        "provinces": selectors.cities_by_province(),
        "city": city,
        "page": page,
        "rows": rows,
        "near": near,
        "near_rows": near_rows,
        "distances": distances,
        "last": last,
        "last_rows": _station_rows([last]) if last else [],
        "extra_query": urlencode({"city": city.pk}) if city else "",
    }
    response = _render(request, "members/stations.html", context, tab="stations")
    # The one page that asks for the member's position (core/headers.py turns geolocation off
    # everywhere else; the middleware keeps a header the view set): this page itself only.
    features = ["camera=()", "geolocation=(self)", *(f"{name}=()" for name in FEATURES_OFF if name != "geolocation")]
    response.headers["Permissions-Policy"] = ", ".join(features)
    return response


# --- Privacy: the notice, the member's account, their data, deleting the account -----------


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    """The privacy notice, for everyone (sign-up links to it)."""
    member = selectors.member_for_user(user=request.user)
    return render(
        request,
        "members/privacy.html",
        {"member": member, "tab": "", "version": settings.GREENBOX_PRIVACY_NOTICE_VERSION},
    )


def _account_page(request: HttpRequest, *, name_form=None, delete_form=None, status: int = 200) -> HttpResponse:
    context = {
        "name_form": name_form or DisplayNameForm(initial={"display_name": request.member.display_name}),
        "delete_form": delete_form or DeleteAccountForm(user=request.user),
        "sections": EXPORT_SECTIONS,
    }
    return _render(request, "members/account.html", context, status=status)


@require_GET
@member_required
def account(request: HttpRequest) -> HttpResponse:
    """The member's own data: number, display name, consent, downloads, and deleting the account."""
    return _account_page(request)


@require_POST
@member_required
def display_name(request: HttpRequest) -> HttpResponse:
    form = DisplayNameForm(request.POST)
    if not form.is_valid():
        return _account_page(request, name_form=form, status=400)
    try:
        set_display_name(member=request.member, display_name=form.cleaned_data["display_name"])
    except (DomainError, ValidationError) as refusal:
        messages.error(request, getattr(refusal, "message", _("Check the form and try again.")))
    else:
        messages.success(request, _("Your display name has been saved."))
    return redirect("members:account")


def _download(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"  # personal data: never kept by a browser or proxy cache
    return response


@require_GET
@member_required
def export_json(request: HttpRequest) -> HttpResponse:
    """Everything GreenBox keeps about the member (rewards.selectors.member_data_export), as JSON."""
    data = member_data_export(member=request.member)
    body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    return _download(HttpResponse(body, content_type="application/json; charset=utf-8"), "greenbox-my-data.json")


@require_GET
@member_required
def export_csv(request: HttpRequest, section: str) -> HttpResponse:
    """One section of the member's data as CSV (UTF-8 with a BOM, so spreadsheets read Chinese)."""
    if section not in EXPORT_SECTIONS:
        raise Http404("No such section.")
    rows = member_data_export(member=request.member)[section]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response.write("\ufeff")
    if rows:
        writer = csv.DictWriter(response, fieldnames=list(rows[0]))
        writer.writeheader()
        # core.csv_cells: text a spreadsheet would run as a formula gets a leading apostrophe.
        writer.writerows({key: neutralised(value) for key, value in row.items()} for row in rows)
    return _download(response, f"greenbox-{section.replace('_', '-')}.csv")


@require_POST
@sensitive_post_parameters("password")
@member_required
def delete_account(request: HttpRequest) -> HttpResponse:
    """Delete the account (rewards.services.delete_member_account), sign out, say what happened."""
    form = DeleteAccountForm(request.POST, user=request.user)
    if not form.is_valid():
        return _account_page(request, delete_form=form, status=400)
    cancelled = delete_member_account(member=request.member)
    logout(request)
    message = _("Your account has been deleted: your mobile number and name are removed and you can no longer sign in.")
    if cancelled:
        message += " " + ngettext(
            "%(count)d open reservation was cancelled.", "%(count)d open reservations were cancelled.", cancelled
        ) % {"count": cancelled}
    messages.success(request, message)
    return redirect("members:signin")
