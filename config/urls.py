from django.contrib import admin
from django.urls import include, path

# A dependency down (PostgreSQL, Redis) raised outside a view answers 503, not 500.
handler500 = "config.middleware.server_error"

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("desk/", include("desk.urls")),  # the station desk (station staff)
    path("ops/", include("dashboards.urls")),  # the ops dashboards (Ops group and superusers)
    path("", include("members.urls")),  # the consumer pages: "/" is the member's home
]
