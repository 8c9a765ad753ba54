from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("ops/", include("dashboards.urls")),  # the ops dashboards (Ops group and superusers)
    path("", include("members.urls")),  # the consumer pages: "/" is the member's home
]
