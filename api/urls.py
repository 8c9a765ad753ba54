"""The REST API, mounted at /api/ by config/urls.py. Version 1 lives under /api/v1/; its
schema is /api/v1/schema/ and Swagger UI (served with drf-spectacular-sidecar's files, no CDN)
is /api/docs/ (the split view: its script is served as a file, which the Content-Security-Policy
allows, not inline)."""

from django.urls import path, re_path
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from . import views

app_name = "api"

v1 = [
    path("stations/", views.StationListView.as_view(), name="stations"),
    path("stations/<int:pk>/", views.StationDetailView.as_view(), name="station-detail"),
    path("stations/<int:pk>/stock/", views.StationStockView.as_view(), name="station-stock"),
    path("rewards/", views.RewardListView.as_view(), name="rewards"),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/ledger/", views.MyLedgerView.as_view(), name="my-ledger"),
    path("dropoffs/", views.DropOffListCreateView.as_view(), name="dropoffs"),
    path("dropoffs/batch/", views.DropOffBatchView.as_view(), name="dropoff-batch"),
    path("dropoffs/<int:pk>/", views.DropOffDetailView.as_view(), name="dropoff-detail"),
    path("dropoffs/<int:pk>/void/", views.DropOffVoidView.as_view(), name="dropoff-void"),
    path("redemptions/", views.RedemptionListCreateView.as_view(), name="redemptions"),
    path("redemptions/collect/", views.RedemptionCollectView.as_view(), name="redemption-collect"),
    path("redemptions/<int:pk>/", views.RedemptionDetailView.as_view(), name="redemption-detail"),
    path("redemptions/<int:pk>/cancel/", views.RedemptionCancelView.as_view(), name="redemption-cancel"),
    path("campaigns/", views.CampaignListView.as_view(), name="campaigns"),
    path("campaigns/<int:pk>/", views.CampaignDetailView.as_view(), name="campaign-detail"),
    path("donations/", views.DonationListCreateView.as_view(), name="donations"),
    path("totals/cities/", views.CityTotalsView.as_view(), name="city-totals"),
    path("totals/stations/", views.StationTotalsView.as_view(), name="station-totals"),
    path(
        "schema/",
        SpectacularAPIView.as_view(
            permission_classes=[AllowAny],
            # JSON first (errors too, in the API's shape); ?format=yaml for YAML.
            renderer_classes=[OpenApiJsonRenderer, OpenApiJsonRenderer2, OpenApiYamlRenderer, OpenApiYamlRenderer2],
        ),
        name="schema",
    ),
]

urlpatterns = [
    *(path(f"v1/{pattern.pattern}", pattern.callback, name=pattern.name) for pattern in v1),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", permission_classes=[AllowAny], template_name="api/swagger_ui.html"
        ),
        name="docs",
    ),
    re_path(r"^", views.NotFoundView.as_view(), name="not-found"),
]
