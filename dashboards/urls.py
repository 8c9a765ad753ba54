"""The ops dashboards, mounted at /ops/ by config/urls.py."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import health, views

app_name = "dashboards"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("cities/<str:code>/", views.city, name="city"),
    path("anomalies/", views.anomaly_flags, name="anomalies"),
    path("flags/<str:kind>/<str:subject>/", views.flag, name="flag"),
    path("health/", health.health, name="health"),
    path("csv/<slug:slug>.csv", views.table_csv, name="csv"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="dashboards/login.html", next_page=reverse_lazy("dashboards:overview")
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page=reverse_lazy("dashboards:login")), name="logout"),
]
