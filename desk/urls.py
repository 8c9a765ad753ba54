"""The station desk, mounted at /desk/ by config/urls.py."""

from django.urls import path

from . import views

app_name = "desk"

urlpatterns = [
    path("", views.home, name="home"),
    path("station/", views.station, name="station"),
    path("log/", views.log_cartons, name="log"),
    path("log/member/", views.member_preview, name="member_preview"),
    path("dropoffs/", views.dropoffs, name="dropoffs"),
    path("dropoffs/<int:dropoff_id>/", views.dropoff, name="dropoff"),
    path("dropoffs/<int:dropoff_id>/void/", views.void, name="void"),
    path("hand-out/", views.hand_out, name="hand_out"),
    path("waiting/", views.waiting, name="waiting"),
    path("waiting/<int:redemption_id>/", views.hand_out_one, name="hand_out_one"),
    path("cartons/", views.cartons, name="cartons"),
]
