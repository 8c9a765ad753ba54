"""The daily totals, read-only: recycling.totals writes them, and the admin can ask for a day to be recomputed."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import ReadOnlyAdminMixin

from .. import tasks
from ..models import DailyCityTotal, DailyStationTotal

# A recompute is one task per day; more than a month at once is more likely a slip of "select all".
MAX_RECOMPUTE_DAYS = 31
# The columns of both lists after the row's own ones.
FIGURE_COLUMNS = (
    "cartons",
    "dropoffs",
    "members",
    "cartons_reused",
    "reuse_rate",
    "co2e_kg",
    "points_issued",
    "points_redeemed",
    "points_donated",
    "computed_at",
)


class DailyTotalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Daily totals, written only by recycling.totals. Who may read them follows the model view
    permission (superusers have it; the "Station staff" group does not), and whoever may read
    them may ask for a day to be recomputed: the task overwrites the day, so it cannot harm."""

    date_hierarchy = "day"
    list_filter = ("city",)
    readonly_fields = ("reuse_rate",)
    ordering = ("-day",)
    show_full_result_count = False
    actions = ["recompute_days"]

    @admin.display(description=_("reuse rate"))
    def reuse_rate(self, total) -> str | None:
        rate = total.reuse_rate
        return None if rate is None else f"{rate:.1%}"

    @admin.action(description=_("Recompute the selected days"), permissions=["view"])
    def recompute_days(self, request, queryset):
        """Enqueue recycling.tasks.aggregate_day_totals once per distinct day of the selected rows."""
        days = list(queryset.order_by("day").values_list("day", flat=True).distinct())
        if len(days) > MAX_RECOMPUTE_DAYS:
            self.message_user(
                request,
                _("Select at most %(max)d days to recompute at a time; %(count)d were selected.")
                % {"max": MAX_RECOMPUTE_DAYS, "count": len(days)},
                messages.ERROR,
            )
            return
        queued = []
        for day in days:
            if not tasks.queue_day_recompute(day):  # gives up within about a second when Redis is down
                self.message_user(
                    request,
                    _("The task queue is not answering; the recompute of %(day)s and later days was not queued.")
                    % {"day": day.isoformat()},
                    messages.ERROR,
                )
                break
            queued.append(day.isoformat())
        if queued:
            self.message_user(
                request,
                ngettext(
                    "Recompute queued for %(count)d day: %(days)s. Its totals are replaced once the worker has run.",
                    "Recompute queued for %(count)d days: %(days)s. Their totals are replaced once the worker has run.",
                    len(queued),
                )
                % {"count": len(queued), "days": ", ".join(queued)},
                messages.SUCCESS,
            )


@admin.register(DailyStationTotal)
class DailyStationTotalAdmin(DailyTotalAdmin):
    list_display = ("day", "station", "city", *FIGURE_COLUMNS)
    list_select_related = ("station", "city")
    search_fields = ("=station__code",)
    search_help_text = _("Station code.")


@admin.register(DailyCityTotal)
class DailyCityTotalAdmin(DailyTotalAdmin):
    list_display = ("day", "city", "stations", *FIGURE_COLUMNS)
    list_select_related = ("city",)
