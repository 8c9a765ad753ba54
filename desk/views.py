"""The station desk: what a clerk at a parcel station does all day, on a tablet or a phone.

Each page works at the station the user picked (desk/access.py). Every write is one service
call (recycling.services.record_dropoff / void_dropoff / record_carton_movement,
rewards.services.collect_by_pickup_code / collect_redemption), whose refusals come back as
form errors on their field; nothing here writes a model. The admin keeps the read-only lists
and everything else, one click away.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from idempotency.errors import KeyReused
from recycling.days import shanghai_day
from recycling.errors import DomainError
from recycling.models import CartonInventory, DropOff
from recycling.permissions import can_void_dropoff
from recycling.selectors import earning_cartons_left, station_day, station_dropoffs
from recycling.services import DropOffResult, record_carton_movement, record_dropoff, void_dropoff
from recycling.tasks import unqueued_recomputes
from rewards import services as rewards_services
from rewards.models import Redemption
from rewards.selectors import handed_out_on_day, waiting_at_station
from stations.models import Station
from stations.selectors import manages, stations_for_user, works_at

from .access import desk_page, pick_station
from .forms import (
    CartonMovementForm,
    LogCartonsForm,
    PickupCodeForm,
    ReasonForm,
    StationPickForm,
    add_refusal,
    find_member,
)

UNDO_KEY = "desk_undo"  # the drop-off just logged, offered for undo on the next page
WAITING_ON_HOME = 5
STATIONS_LISTED = 50  # a user with more (a superuser) types the code instead


def _page(request: HttpRequest, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    user = request.user
    return render(
        request,
        template,
        {
            "station": request.desk_station,
            "may_log": user.has_perm("recycling.add_dropoff"),
            "may_hand_out": user.has_perm("rewards.collect_redemption"),
            "may_move": user.has_perm("recycling.add_cartonmovement"),
            "several_stations": stations_for_user(user=user)[:2].count() > 1,
            **context,
        },
        status=status,
    )


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


# --- Home and station ------------------------------------------------------------------------


@desk_page()
def home(request: HttpRequest) -> HttpResponse:
    station = request.desk_station
    today = shanghai_day(timezone.now())
    waiting = waiting_at_station(station=station)
    return _page(
        request,
        "desk/home.html",
        {
            "tab": "home",
            "today": station_day(station_id=station.pk, day=today),
            "handed_out": handed_out_on_day(station=station, day=today),
            "waiting": waiting[:WAITING_ON_HOME],
            "waiting_count": waiting.count(),
        },
    )


@desk_page(needs_station=False)
def station(request: HttpRequest) -> HttpResponse:
    """Pick the station to work at; it sticks for the session."""
    stations = stations_for_user(user=request.user).select_related("city").order_by("code")
    form = StationPickForm(request.POST or None, stations=stations)
    if request.method == "POST" and form.is_valid():
        pick_station(request, form.cleaned_data["station"])
        return redirect("desk:home")
    listed = list(stations[: STATIONS_LISTED + 1])
    return _page(
        request,
        "desk/station.html",
        {"form": form, "stations": listed if len(listed) <= STATIONS_LISTED else None},
        status=400 if form.errors else 200,
    )


# --- Logging cartons and undoing -------------------------------------------------------------


@desk_page()
def log_cartons(request: HttpRequest) -> HttpResponse:
    _require(request, "recycling.add_dropoff")
    station = request.desk_station
    form = LogCartonsForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        result = _record(request, form, station)
        if result is not None:
            if result.capped_cartons:
                messages.warning(request, _dropoff_message(result))
            else:
                messages.success(request, _dropoff_message(result))
            request.session[UNDO_KEY] = result.dropoff.pk
            return redirect("desk:log")
    undo = _undoable(request, station, request.session.pop(UNDO_KEY, None)) if request.method == "GET" else None
    return _page(
        request,
        "desk/log.html",
        {"tab": "log", "form": form, "undo": undo, "undo_form": ReasonForm()},
        status=400 if form.errors else 200,
    )


def _record(request: HttpRequest, form: LogCartonsForm, station: Station) -> DropOffResult | None:
    data = form.cleaned_data
    try:
        return record_dropoff(
            station=station,
            member_code=data["member"],
            cartons=data["cartons"],
            staff=request.user,
            works_here=works_at(user=request.user, station=station),
            idempotency_key=data["idempotency_key"],
            occurred_at=data.get("occurred_at"),
        )
    except KeyReused:
        form.add_error(None, _("This form was already saved with other details. Check today's drop-offs."))
    except DomainError as refusal:
        add_refusal(form, refusal)
    return None


def _undoable(request: HttpRequest, station: Station, dropoff_id: object) -> DropOff | None:
    """The drop-off just logged here, when the user may still void it (recycling.permissions)."""
    if not isinstance(dropoff_id, int):
        return None
    dropoff = DropOff.objects.filter(pk=dropoff_id, station=station, status=DropOff.Status.ACCEPTED).first()
    if dropoff is None or not can_void_dropoff(user=request.user, dropoff=dropoff, now=timezone.now()):
        return None
    return dropoff


def _dropoff_message(result: DropOffResult) -> str:
    dropoff = result.dropoff
    values = {
        "cartons": dropoff.cartons,
        "member": dropoff.member,
        "points": dropoff.points,
        "balance": result.balance,
        "capped": result.capped_cartons,
    }
    if result.replayed:
        message = ngettext(
            "This form was already saved: %(cartons)d carton for %(member)s, %(points)d points. "
            "It was not logged again; the balance is %(balance)d points.",
            "This form was already saved: %(cartons)d cartons for %(member)s, %(points)d points. "
            "They were not logged again; the balance is %(balance)d points.",
            dropoff.cartons,
        )
    else:
        message = ngettext(
            "Saved: %(cartons)d carton for %(member)s, %(points)d points; new balance %(balance)d points.",
            "Saved: %(cartons)d cartons for %(member)s, %(points)d points; new balance %(balance)d points.",
            dropoff.cartons,
        )
    message %= values
    if result.capped_cartons:
        message += " " + (
            ngettext(
                "%(capped)d carton was beyond the member's caps and earned no points.",
                "%(capped)d cartons were beyond the member's caps and earned no points.",
                result.capped_cartons,
            )
            % values
        )
    return message


@require_GET
@desk_page()
def member_preview(request: HttpRequest) -> HttpResponse:
    """The member a code or number finds, and how many more cartons earn points for them now
    (htmx fills this in beside the form once the code is scanned)."""
    _require(request, "recycling.add_dropoff")
    term = request.GET.get("member", "")[:64]
    context = {}
    if term.strip():
        try:
            member = find_member(user=request.user, term=term)
        except ValidationError as problem:
            context["problem"] = " ".join(problem.messages)
        else:
            context["member"] = member
            context["left"] = earning_cartons_left(member=member, city_id=request.desk_station.city_id)
    return render(request, "desk/_member.html", context)


@desk_page()
def dropoffs(request: HttpRequest) -> HttpResponse:
    """The station's drop-offs of today, latest first."""
    today = shanghai_day(timezone.now())
    return _page(
        request,
        "desk/dropoffs.html",
        {"tab": "dropoffs", "dropoffs": station_dropoffs(station_id=request.desk_station.pk, day=today)[:200]},
    )


def _station_dropoff(request: HttpRequest, dropoff_id: int) -> DropOff:
    return get_object_or_404(
        DropOff.objects.select_related("member", "logged_by", "voided_by", "station"),
        pk=dropoff_id,
        station=request.desk_station,
    )


@desk_page()
def dropoff(request: HttpRequest, dropoff_id: int) -> HttpResponse:
    return _dropoff_page(request, _station_dropoff(request, dropoff_id), ReasonForm())


def _dropoff_page(request: HttpRequest, dropoff: DropOff, form: ReasonForm, *, status: int = 200) -> HttpResponse:
    may_void = dropoff.status == DropOff.Status.ACCEPTED and can_void_dropoff(
        user=request.user, dropoff=dropoff, now=timezone.now()
    )
    return _page(
        request,
        "desk/dropoff.html",
        {"tab": "dropoffs", "dropoff": dropoff, "form": form, "may_void": may_void},
        status=status,
    )


@require_POST
@desk_page()
def void(request: HttpRequest, dropoff_id: int) -> HttpResponse:
    """Void a drop-off with a reason: the undo after logging, or a manager's void from its page."""
    dropoff = _station_dropoff(request, dropoff_id)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            with unqueued_recomputes() as unqueued:
                void_dropoff(dropoff_id=dropoff.pk, staff=request.user, reason=form.cleaned_data["reason"])
        except DomainError as refusal:
            add_refusal(form, refusal)
        else:
            messages.success(
                request,
                ngettext(
                    "Voided: %(cartons)d carton for %(member)s; %(points)d points taken back.",
                    "Voided: %(cartons)d cartons for %(member)s; %(points)d points taken back.",
                    dropoff.cartons,
                )
                % {"cartons": dropoff.cartons, "member": dropoff.member, "points": dropoff.points},
            )
            if unqueued:
                messages.warning(
                    request,
                    _(
                        "The task queue is not answering: the totals of %(days)s were not recomputed. "
                        "Recompute those days from the daily totals once it is back."
                    )
                    % {"days": ", ".join(sorted({day.isoformat() for day in unqueued}))},
                )
            return redirect(_next(request, default=reverse("desk:dropoff", args=[dropoff.pk])))
    return _dropoff_page(request, dropoff, form, status=400)


def _next(request: HttpRequest, *, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


# --- Handing out rewards ---------------------------------------------------------------------


def _handed_out(request: HttpRequest, redemption: Redemption) -> None:
    messages.success(
        request,
        _("Handed out %(quantity)s × %(reward)s to %(member)s.")
        % {
            "quantity": redemption.quantity,
            "reward": redemption.reward.display_name,
            "member": redemption.member.counter_label,
        },
    )


@desk_page()
def hand_out(request: HttpRequest) -> HttpResponse:
    """Type (or scan) the pickup code the member shows: the reservation waiting here is collected."""
    _require(request, "rewards.collect_redemption")
    station = request.desk_station
    form = PickupCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = rewards_services.collect_by_pickup_code(
                station=station,
                pickup_code=form.cleaned_data["pickup_code"],
                staff=request.user,
                works_here=works_at(user=request.user, station=station),
            )
        except DomainError as refusal:
            add_refusal(form, refusal)
        else:
            _handed_out(request, _with_member(result.redemption.pk))
            return redirect("desk:hand_out")
    return _page(
        request,
        "desk/hand_out.html",
        {"tab": "hand_out", "form": form},
        status=400 if form.errors else 200,
    )


def _with_member(redemption_id: int) -> Redemption:
    return Redemption.objects.select_related("reward", "member").get(pk=redemption_id)


@desk_page()
def waiting(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "desk/waiting.html",
        {"tab": "waiting", "waiting": waiting_at_station(station=request.desk_station)[:200]},
    )


@desk_page()
def hand_out_one(request: HttpRequest, redemption_id: int) -> HttpResponse:
    """One waiting reservation: the member shows the pickup code, the clerk types it."""
    _require(request, "rewards.collect_redemption")
    redemption = get_object_or_404(waiting_at_station(station=request.desk_station), pk=redemption_id)
    form = PickupCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rewards_services.collect_redemption(
                redemption_id=redemption.pk, pickup_code=form.cleaned_data["pickup_code"], staff=request.user
            )
        except DomainError as refusal:
            add_refusal(form, refusal)
        else:
            _handed_out(request, redemption)
            return redirect("desk:waiting")
    return _page(
        request,
        "desk/hand_out_one.html",
        {"tab": "waiting", "form": form, "redemption": redemption},
        status=400 if form.errors else 200,
    )


# --- Cartons on hand ------------------------------------------------------------------------


@desk_page()
def cartons(request: HttpRequest) -> HttpResponse:
    """Cartons on hand at the station, and recording those reused for a parcel or baled."""
    _require(request, "recycling.add_cartonmovement")
    station = request.desk_station
    may_bale = manages(user=request.user, station=station)
    form = CartonMovementForm(request.POST or None, may_bale=may_bale)
    if request.method == "POST" and form.is_valid():
        try:
            result = record_carton_movement(
                station=station,
                staff=request.user,
                works_here=works_at(user=request.user, station=station),
                **form.cleaned_data,
            )
        except KeyReused:
            form.add_error(None, _("This form was already saved with other details."))
        except DomainError as refusal:
            add_refusal(form, refusal)
        else:
            message = _movement_message(result.movement, on_hand=result.on_hand, replayed=result.replayed)
            messages.success(request, message)
            return redirect("desk:cartons")
    on_hand = CartonInventory.objects.filter(station=station).values_list("on_hand", flat=True).first() or 0
    return _page(
        request,
        "desk/cartons.html",
        {"tab": "cartons", "form": form, "on_hand": on_hand, "may_bale": may_bale},
        status=400 if form.errors else 200,
    )


def _movement_message(movement, *, on_hand: int, replayed: bool) -> str:
    values = {"cartons": movement.cartons, "on_hand": on_hand}
    if replayed:
        recorded = ngettext(
            "This form was already saved: %(cartons)d carton. It was not recorded again.",
            "This form was already saved: %(cartons)d cartons. They were not recorded again.",
            movement.cartons,
        )
    elif movement.kind == movement.Kind.REUSED:
        recorded = ngettext(
            "Recorded %(cartons)d carton reused for a parcel.",
            "Recorded %(cartons)d cartons reused for a parcel.",
            movement.cartons,
        )
    else:
        recorded = ngettext(
            "Recorded %(cartons)d carton baled for pulping.",
            "Recorded %(cartons)d cartons baled for pulping.",
            movement.cartons,
        )
    now_on_hand = ngettext("%(on_hand)d carton is now on hand.", "%(on_hand)d cartons are now on hand.", on_hand)
    return f"{recorded % values} {now_on_hand % values}"
