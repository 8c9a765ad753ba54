"""The REST API v1 views: thin. Each validates the request's shape with a serializer, finds the
objects the user may reach (another party's object is a 404), calls one service or selector,
and serializes the result. Refusals are exceptions rendered by api.errors. Every POST that
writes requires an Idempotency-Key and hands it to its service, which claims it
(api/idempotency_keys.py); a replayed result is rendered like the first one.
"""

import logging

from django.db import DatabaseError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import MethodNotAllowed, NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from recycling.errors import DomainError, NotStationStaff
from recycling.selectors import city_totals, member_figures, station_totals
from recycling.services import DropOffItem, record_dropoff, record_dropoffs, void_dropoff
from rewards.models import DonationCampaign, Redemption, Reward
from rewards.selectors import (
    active_rewards,
    donation_campaigns,
    history_line,
    member_donations,
    member_redemption,
    member_redemptions,
    member_transfers,
    station_stock,
)
from rewards.services import cancel_redemption, collect_by_pickup_code, donate, reserve_reward
from stations.models import Station
from stations.selectors import StaffAtStation, staff_at_station, station_list

from . import serializers as s
from .errors import error_body
from .idempotency_keys import KEY_PATTERN, required_key, written
from .permissions import (
    IsMember,
    IsOps,
    IsStaffOrMember,
    IsStationStaff,
    check_token_station,
    member_of,
    token_station_id,
)
from .selectors import dropoff_list, dropoffs_visible_to
from .throttling import StationRateThrottle, UserRateThrottle, station_id_in_body

logger = logging.getLogger(__name__)

SUPPORTED_METHODS = ("get", "post", "put", "patch", "delete")


class ApiView(GenericAPIView):
    """Base of every v1 view.

    An unsupported method is a 405 for everyone, before authentication, so the answer to a
    wrong method never depends on who asks. `permissions` maps methods to the permission
    classes they need besides being signed in.
    """

    permissions: dict[str, list] = {}

    @property
    def allowed_methods(self) -> list[str]:
        methods = [m.upper() for m in SUPPORTED_METHODS if hasattr(self, m)]
        return methods + (["HEAD"] if "GET" in methods else [])

    def initial(self, request, *args, **kwargs):
        if request.method not in self.allowed_methods:
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def get_permissions(self):
        method = "GET" if self.request.method == "HEAD" else self.request.method
        return [IsAuthenticated()] + [permission() for permission in self.permissions.get(method, [])]

    def paginated(self, queryset, serializer_class, transform=None) -> Response:
        page = self.paginate_queryset(queryset)
        rows = [transform(row) for row in page] if transform else page
        return self.get_paginated_response(serializer_class(rows, many=True).data)


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def query(serializer_class, request) -> dict:
    """The validated query parameters a filter serializer knows (pagination's are left alone)."""
    params = request.query_params
    known = {name: params[name] for name in serializer_class().fields if name in params}
    return validated(serializer_class, known)


def existing(queryset, pk: int, field: str):
    """The object a request body names by id, or a 400 on that field."""
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise _no_such(field)
    return found


def existing_station_for_staff(request, pk: int) -> StaffAtStation:
    """The station a staff request names, with its city, and whether the user works there (one
    query), or a 400; a 403 if the request's device token is another station's. The view hands
    both to the service, which refuses a user who does not work there."""
    at = staff_at_station(user=request.user, station_id=pk)
    if at is None:
        raise _no_such("station")
    check_token_station(request, pk)
    return at


def _no_such(field: str) -> ValidationError:
    return ValidationError({field: [_("There is no such %(field)s.") % {"field": field}]})


# --- Stations and rewards --------------------------------------------------------------------


class StationListView(ApiView):
    @extend_schema(parameters=[s.StationFilterSerializer], responses={200: s.StationSerializer(many=True)})
    def get(self, request):
        """Stations, by code; filter by city code and whether they are active."""
        filters = query(s.StationFilterSerializer, request)
        stations = station_list(city_code=filters.get("city"), is_active=filters.get("active"))
        return self.paginated(stations, s.StationSerializer)


class StationDetailView(ApiView):
    @extend_schema(responses={200: s.StationSerializer})
    def get(self, request, pk: int):
        station = get_object_or_404(station_list(), pk=pk)
        return Response(s.StationSerializer(station).data)


class StationStockView(ApiView):
    @extend_schema(responses={200: s.StockSerializer(many=True)})
    def get(self, request, pk: int):
        """The rewards in stock at a station (available ones only), cheapest first."""
        station = get_object_or_404(Station, pk=pk)
        stock = station_stock(station=station)
        return self.paginated(stock, s.StockSerializer)


class RewardListView(ApiView):
    @extend_schema(responses={200: s.RewardSerializer(many=True)})
    def get(self, request):
        """The active catalog: goods to reserve at a station, and donation entries."""
        return self.paginated(active_rewards(), s.RewardSerializer)


# --- The member ------------------------------------------------------------------------------


class MeView(ApiView):
    permissions = {"GET": [IsMember]}

    @extend_schema(responses={200: s.MeSerializer})
    def get(self, request):
        """The signed-in member: full mobile number, member code, points, cartons and kg CO2e avoided."""
        member = member_of(request.user)
        return Response(s.MeSerializer({"member": member, "figures": member_figures(member=member)}).data)


class MyLedgerView(ApiView):
    permissions = {"GET": [IsMember]}

    @extend_schema(responses={200: s.LedgerLineSerializer(many=True)})
    def get(self, request):
        """The member's points ledger, newest first, each line with why the points changed."""
        member = member_of(request.user)
        return self.paginated(
            member_transfers(member=member),
            s.LedgerLineSerializer,
            transform=lambda transfer: history_line(transfer=transfer, member=member),
        )


# --- Drop-offs -------------------------------------------------------------------------------


class DropOffListCreateView(ApiView):
    # POST: no permission class besides being signed in. Who may write here is whether the user
    # works at the station the body names, which the view reads with the station in one query
    # (existing_station_for_staff) and the service refuses (not_station_staff, 403).
    permissions = {"GET": [IsStaffOrMember]}
    throttle_classes = [UserRateThrottle, StationRateThrottle]

    def throttle_station_id(self, request) -> int | None:
        return station_id_in_body(request)

    @extend_schema(parameters=[s.DropOffFilterSerializer], responses={200: s.DropOffSerializer(many=True)})
    def get(self, request):
        """Drop-offs at the stations you work at, and your own as a member."""
        filters = query(s.DropOffFilterSerializer, request)
        station_id = filters.get("station") or token_station_id(request)
        check_token_station(request, station_id)  # a station device lists its own station's only
        dropoffs = dropoff_list(user=request.user, station_id=station_id, status=filters.get("status"))
        return self.paginated(dropoffs, s.DropOffSerializer)

    @extend_schema(request=s.DropOffCreateSerializer, responses={201: s.DropOffSerializer})
    def post(self, request):
        """Record the cartons a member left at your station; the points are credited at once."""
        key = required_key(request)
        data = validated(s.DropOffCreateSerializer, request.data)
        at = existing_station_for_staff(request, data["station"])
        result = record_dropoff(
            station=at.station,
            member_code=data["member_code"],
            cartons=data["cartons"],
            staff=request.user,
            works_here=at.works_here,
            idempotency_key=key,
            occurred_at=data.get("occurred_at"),
        )
        data = s.DropOffSerializer(result.dropoff).data
        return written(data, status=status.HTTP_201_CREATED, replayed=result.replayed)


class DropOffDetailView(ApiView):
    permissions = {"GET": [IsStaffOrMember]}

    @extend_schema(responses={200: s.DropOffSerializer})
    def get(self, request, pk: int):
        dropoff = get_object_or_404(dropoffs_visible_to(user=request.user), pk=pk)
        return Response(s.DropOffSerializer(dropoff).data)


class DropOffVoidView(ApiView):
    permissions = {"POST": [IsStationStaff]}

    @extend_schema(request=s.VoidSerializer, responses={200: s.DropOffSerializer})
    def post(self, request, pk: int):
        """Void a drop-off logged in error at your station: its points are reversed.

        A station's manager voids any of its drop-offs; its other staff only one they logged
        themselves, within 15 minutes of logging it (403 `void_not_allowed` otherwise).
        """
        key = required_key(request)
        dropoff = get_object_or_404(dropoffs_visible_to(user=request.user), pk=pk)
        check_token_station(request, dropoff.station_id)
        data = validated(s.VoidSerializer, request.data)
        result = void_dropoff(dropoff_id=pk, staff=request.user, reason=data["reason"], idempotency_key=key)
        return written(s.DropOffSerializer(result.dropoff).data, status=status.HTTP_200_OK, replayed=result.replayed)


class DropOffBatchView(ApiView):
    # POST: no permission class besides being signed in. Who may write here is whether the user
    # works at the station the body names, which the view reads with the station in one query
    # (existing_station_for_staff) and the view refuses (not_station_staff, 403).
    throttle_classes = [UserRateThrottle, StationRateThrottle]

    def throttle_station_id(self, request) -> int | None:
        return station_id_in_body(request)

    @extend_schema(request=s.DropOffBatchDocSerializer, responses={200: s.BatchResultSerializer})
    def post(self, request):
        """Sync up to 500 drop-offs recorded while the station was offline.

        Each item has its own idempotency key: one result per item, `created`, `replayed`
        (recorded before under this key) or `refused` with its error; a refused item does not
        stop the others. The items are recorded in one transaction (recycling.services.
        record_dropoffs); if it fails (the database went away), every item that would have been
        created is refused with `retry`. Sending the batch again is safe. The header is required
        like every write's, but the batch itself claims nothing: each item's key does.
        A batch's drop-offs may go further back than a single POST's (the offline window,
        OFFLINE_DROPOFF_MAX_AGE_DAYS); those beyond the first window are flagged for review.
        """
        required_key(request)
        data = validated(s.DropOffBatchSerializer, request.data)
        # The station and the staff check once for the batch.
        at = existing_station_for_staff(request, data["station"])
        if not at.works_here:
            raise NotStationStaff()
        results, items, positions = [], [], []
        for index, item in enumerate(data["items"]):
            key = item.get("idempotency_key")
            valid_key = isinstance(key, str) and KEY_PATTERN.match(key) is not None
            results.append({"index": index, "idempotency_key": key if valid_key else None})
            serializer = s.DropOffBatchItemSerializer(data=item)
            if serializer.is_valid():
                items.append(DropOffItem(**serializer.validated_data))
                positions.append(index)
            else:
                message = _("This item is invalid; see the fields.")
                results[index].update(
                    result="refused", **error_body(code="invalid", message=message, fields=serializer.errors)
                )
        for index, answer in zip(positions, self._record(request, at, items), strict=True):
            if answer is None:
                message = _("This drop-off could not be recorded now; send it again.")
                results[index].update(result="refused", **error_body(code="retry", message=message))
            elif isinstance(answer, DomainError):
                results[index].update(result="refused", **error_body(code=answer.code, message=answer.message))
            else:
                results[index].update(result="replayed" if answer.replayed else "created", dropoff=answer.dropoff)
        counts = {
            outcome: sum(1 for r in results if r["result"] == outcome) for outcome in ("created", "replayed", "refused")
        }
        return Response(s.BatchResultSerializer({**counts, "results": results}).data)

    def _record(self, request, at: StaffAtStation, items: list[DropOffItem]) -> list:
        """record_dropoffs()'s answers, or None for each item when its transaction failed."""
        try:
            return record_dropoffs(
                station=at.station, staff=request.user, works_here=at.works_here, items=items, offline=True
            )
        except DatabaseError:
            # The batch's transaction rolled back: nothing of it is stored. The device sends it again later.
            logger.exception("A batch of %s drop-offs at station %s failed", len(items), at.station.pk)
            return [None] * len(items)


# --- Rewards, redemptions and donations --------------------------------------------------------


class RedemptionListCreateView(ApiView):
    permissions = {"GET": [IsMember], "POST": [IsMember]}

    @extend_schema(responses={200: s.RedemptionSerializer(many=True)})
    def get(self, request):
        """Your reservations, newest first."""
        redemptions = member_redemptions(member=member_of(request.user))
        return self.paginated(redemptions, s.RedemptionSerializer)

    @extend_schema(request=s.ReserveSerializer, responses={201: s.RedemptionSerializer})
    def post(self, request):
        """Reserve a reward for collection at a station: the points are taken at once."""
        key = required_key(request)
        data = validated(s.ReserveSerializer, request.data)
        reward = existing(Reward.objects.all(), data["reward"], "reward")
        station = existing(Station.objects.all(), data["station"], "station")
        result = reserve_reward(
            member=member_of(request.user),
            reward=reward,
            station=station,
            quantity=data["quantity"],
            idempotency_key=key,
        )
        data = s.RedemptionSerializer(result.redemption).data
        return written(data, status=status.HTTP_201_CREATED, replayed=result.replayed)


def own_redemption(request, pk: int) -> Redemption:
    redemption = member_redemption(member=member_of(request.user), redemption_id=pk)
    if redemption is None:
        raise Http404
    return redemption


class RedemptionDetailView(ApiView):
    permissions = {"GET": [IsMember]}

    @extend_schema(responses={200: s.RedemptionSerializer})
    def get(self, request, pk: int):
        return Response(s.RedemptionSerializer(own_redemption(request, pk)).data)


class RedemptionCancelView(ApiView):
    permissions = {"POST": [IsMember]}

    @extend_schema(request=None, responses={200: s.RedemptionSerializer})
    def post(self, request, pk: int):
        """Cancel your reservation before collection: the points and the stock come back."""
        key = required_key(request)
        redemption = own_redemption(request, pk)
        result = cancel_redemption(redemption_id=redemption.pk, member=member_of(request.user), idempotency_key=key)
        data = s.RedemptionSerializer(result.redemption).data
        return written(data, status=status.HTTP_200_OK, replayed=result.replayed)


class RedemptionCollectView(ApiView):
    # POST: no permission class besides being signed in. Who may write here is whether the user
    # works at the station the body names, which the view reads with the station in one query
    # (existing_station_for_staff) and the service refuses (not_station_staff, 403).
    throttle_classes = [UserRateThrottle, StationRateThrottle]

    def throttle_station_id(self, request) -> int | None:
        return station_id_in_body(request)

    @extend_schema(request=s.CollectSerializer, responses={200: s.CollectedRedemptionSerializer})
    def post(self, request):
        """Hand out a reserved reward at your station against the member's pickup code."""
        key = required_key(request)
        data = validated(s.CollectSerializer, request.data)
        at = existing_station_for_staff(request, data["station"])
        result = collect_by_pickup_code(
            station=at.station,
            pickup_code=data["pickup_code"],
            staff=request.user,
            works_here=at.works_here,
            idempotency_key=key,
        )
        data = s.CollectedRedemptionSerializer(result.redemption).data
        return written(data, status=status.HTTP_200_OK, replayed=result.replayed)


class CampaignListView(ApiView):
    @extend_schema(responses={200: s.CampaignSerializer(many=True)})
    def get(self, request):
        """Donation campaigns, newest first, with their progress."""
        return self.paginated(donation_campaigns(), s.CampaignSerializer)


class CampaignDetailView(ApiView):
    @extend_schema(responses={200: s.CampaignSerializer})
    def get(self, request, pk: int):
        return Response(s.CampaignSerializer(get_object_or_404(donation_campaigns(), pk=pk)).data)


class DonationListCreateView(ApiView):
    permissions = {"GET": [IsMember], "POST": [IsMember]}

    @extend_schema(responses={200: s.DonationSerializer(many=True)})
    def get(self, request):
        """Your donations, newest first."""
        donations = member_donations(member=member_of(request.user))
        return self.paginated(donations, s.DonationSerializer)

    @extend_schema(request=s.DonateSerializer, responses={201: s.DonationSerializer})
    def post(self, request):
        """Donate points to a campaign: they fund notebooks."""
        key = required_key(request)
        data = validated(s.DonateSerializer, request.data)
        campaign = existing(DonationCampaign.objects.all(), data["campaign"], "campaign")
        result = donate(
            member=member_of(request.user),
            campaign=campaign,
            notebooks=data["notebooks"],
            idempotency_key=key,
        )
        data = s.DonationSerializer(result.donation).data
        return written(data, status=status.HTTP_201_CREATED, replayed=result.replayed)


# --- Daily totals (ops) -------------------------------------------------------------------------


class CityTotalsView(ApiView):
    permissions = {"GET": [IsOps]}

    @extend_schema(parameters=[s.TotalsFilterSerializer], responses={200: s.CityTotalSerializer(many=True)})
    def get(self, request):
        """Daily totals per city (Shanghai days), by day then city."""
        filters = query(s.TotalsFilterSerializer, request)
        totals = city_totals(start=filters.get("start"), end=filters.get("end"), city_code=filters.get("city"))
        return self.paginated(totals, s.CityTotalSerializer)


class StationTotalsView(ApiView):
    permissions = {"GET": [IsOps]}

    @extend_schema(parameters=[s.StationTotalsFilterSerializer], responses={200: s.StationTotalSerializer(many=True)})
    def get(self, request):
        """Daily totals per station (Shanghai days), by day then station."""
        filters = query(s.StationTotalsFilterSerializer, request)
        totals = station_totals(
            start=filters.get("start"),
            end=filters.get("end"),
            city_code=filters.get("city"),
            station_id=filters.get("station"),
        )
        return self.paginated(totals, s.StationTotalSerializer)


class NotFoundView(APIView):
    """Any other address under /api/: a 404 in the API's error shape, whatever the method."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def initial(self, request, *args, **kwargs):
        raise NotFound()
