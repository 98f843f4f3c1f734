"""Portal-wide pages: home, the permission matrix, health, and the error pages."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.views.decorators.http import require_safe

from accessreviews.health import STALE_AFTER_SECONDS
from accessreviews.health import report as health_report
from accessreviews.models import SchedulerHeartbeat
from accessreviews.selectors_panel import my_reviews_summary
from directory import audit
from directory.capabilities import MATRIX_COLUMNS, REVIEWER_NOTE, capabilities_for
from directory.capabilities import permission_matrix as matrix_rows


@require_safe
@login_required
def home(request):
    caps = capabilities_for(request.user)
    context = {
        "heartbeat": SchedulerHeartbeat.last() if caps.read_all else None,
        "my_reviews": my_reviews_summary(request.user),
    }
    if caps.read_all:
        context["chain_head"] = audit.chain_head()
    if context["heartbeat"] is not None:
        age = timezone.now() - context["heartbeat"].last_tick_at
        context["heartbeat_stale"] = age.total_seconds() > STALE_AFTER_SECONDS
    return render(request, "accessreviews/home.html", context)


@require_safe
@login_required
def permission_matrix(request):
    return render(
        request,
        "accessreviews/permission_matrix.html",
        {"columns": MATRIX_COLUMNS, "rows": matrix_rows(), "reviewer_note": REVIEWER_NOTE},
    )


@require_safe
def health(request):
    """For load balancers and monitoring: database (503 when down), broker and scheduler."""
    body, status = health_report()
    return JsonResponse(body, status=status)


def bad_request(request, exception=None):
    return render(request, "400.html", status=400)


def permission_denied(request, exception=None):
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)


def page_not_found(request, exception=None):
    return render(request, "404.html", status=404)


def server_error(request):
    # Rendered without the request: no context processor may touch a database that failed.
    return HttpResponseServerError(loader.get_template("500.html").render())
