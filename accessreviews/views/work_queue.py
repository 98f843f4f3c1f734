"""The admins' work queue, and Retry of a failed instance.

Who sees the queue is work_queue.may_see_work_queue (others get a 404: the page is not theirs
to know of); each section shows only reviews they may see. Retry needs may_manage on the
series: not visible -> 404, visible but not manageable -> 403 and an audit event.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from accessreviews import describe
from accessreviews.models import ReviewInstance
from accessreviews.permissions import definitions_visible_to, may_manage
from accessreviews.services.retry import instance_retry as retry_service
from accessreviews.work_queue import SECTION_LIMIT, may_see_work_queue, work_queue
from directory import audit


@require_safe
@login_required
def work_queue_page(request):
    if not may_see_work_queue(request.user):
        raise Http404("No work queue here.")
    context = {
        "nav": "work-queue",
        "q": work_queue(request.user),
        "limit": SECTION_LIMIT,
        "viewer_zone": describe.viewer_zone(request.user),
    }
    return render(request, "accessreviews/work_queue.html", context)


def _instance_to_manage(request, uuid) -> ReviewInstance:
    instance = (
        ReviewInstance.objects.select_related("definition")
        .filter(uuid=uuid, definition_id__in=definitions_visible_to(request.user).values("pk"))
        .first()
    )
    if instance is None:
        raise Http404("No review here.")
    if not may_manage(request.user, instance.definition):
        audit.record_denied(request, "instance_manage", instance)
        raise PermissionDenied("You may read this review but not manage it.")
    return instance


@require_POST
@login_required
def instance_retry(request, uuid):
    instance = _instance_to_manage(request, uuid)
    try:
        retry_service(request.user, instance)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        done = f"Retrying “{instance.resource_name}”: the scheduler resumes it within a minute."
        messages.success(request, done)
    return redirect("accessreviews:work-queue")
