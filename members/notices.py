"""The member's notices page ("消息 / Notices"): what recycling/notices.py wrote for them, newest first."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from recycling.notices import member_notices

from .views import _render, member_required

NOTICES_PAGE_SIZE = 20


@require_GET
@member_required
def notices(request: HttpRequest) -> HttpResponse:
    page = Paginator(member_notices(member=request.member), NOTICES_PAGE_SIZE).get_page(request.GET.get("page"))
    return _render(request, "members/notices.html", {"page": page})
