"""The apply preview and confirmation, and the revocation worklist of one instance.

Who sees an instance is who sees its definition (permissions.definitions_visible_to): not
visible -> 404. Only those who may manage the definition (permissions.may_manage) confirm an
apply; readers see the preview read-only and get 403 (audited) on POST. The POST only writes
the database (Completed -> Applying): the tick, or a worker nudged after commit, does the work.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from accessreviews import describe, worklist
from accessreviews.models import ReviewInstance
from accessreviews.models.instances import InstanceStatus
from accessreviews.permissions import definitions_visible_to, may_manage
from accessreviews.services.apply import apply_preview, apply_request
from directory import audit


def _instance_for(user, uuid) -> tuple[ReviewInstance, bool]:
    """The instance and whether `user` may apply it; Http404 if they may not see it."""
    instance = (
        ReviewInstance.objects.select_related("definition", "apply_requested_by")
        .filter(definition__in=definitions_visible_to(user).values("pk"), uuid=uuid)
        .first()
    )
    if instance is None:
        raise Http404("No review here.")
    return instance, may_manage(user, instance.definition)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def instance_apply(request, uuid):
    instance, can_manage = _instance_for(request.user, uuid)
    if request.method == "POST":
        return _confirm(request, instance, can_manage)
    context = {
        "nav": "reviews",
        "instance": instance,
        "preview": apply_preview(instance, request.GET.get("page")),
        "can_apply": can_manage and instance.status == InstanceStatus.COMPLETED,
        "can_manage": can_manage,
        "viewer_zone": describe.viewer_zone(request.user),
    }
    return render(request, "accessreviews/apply/preview.html", context)


def _confirm(request, instance: ReviewInstance, can_manage: bool):
    if not can_manage:
        audit.record_denied(request, "instance_apply", instance)
        raise PermissionDenied("You may read this review but not apply it.")
    try:
        apply_request(request.user, instance)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(
            request, "Applying: denied access is being removed. This page shows the results."
        )
    return redirect("accessreviews:instance-apply", uuid=instance.uuid)


@require_safe
@login_required
def instance_worklist(request, uuid):
    instance, _ = _instance_for(request.user, uuid)
    fmt = request.GET.get("format", "csv")
    if fmt not in worklist.FORMATS:
        return HttpResponseBadRequest(
            "format: expected csv or json.", content_type="text/plain; charset=utf-8"
        )
    if fmt == "csv":
        response = StreamingHttpResponse(
            worklist.csv_lines(instance), content_type="text/csv; charset=utf-8"
        )
    else:
        response = StreamingHttpResponse(
            worklist.json_chunks(instance), content_type="application/json"
        )
    name = f"revocations-{instance.uuid}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
