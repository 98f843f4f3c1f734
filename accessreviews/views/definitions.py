"""The reviews list, a series page, and its pause / resume / end / delete.

Who sees what is permissions.definitions_visible_to; who may change a series is
permissions.may_manage. Not visible -> 404 (a series' existence is never revealed); visible but
not manageable -> 403 and an audit event. The services check again and audit every change.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from accessreviews import describe, selectors
from accessreviews.choices import ScopeType, SeriesStatus
from accessreviews.services import definitions as services
from accessreviews.services import start as start_services
from directory import audit
from directory.capabilities import capabilities_for


def _may_list(user) -> bool:
    caps = capabilities_for(user)
    return caps.read_all or caps.create_reviews


def _definition_to_manage(request, uuid):
    """The definition, if the user may see (else 404) and manage it (else 403, audited)."""
    definition, can_manage = selectors.definition_for(request.user, uuid)
    if not can_manage:
        audit.record_denied(request, "definition_manage", definition)
        raise PermissionDenied("You may read this review but not manage it.")
    return definition


@require_safe
@login_required
def definition_list(request):
    if not _may_list(request.user):
        audit.record_denied(request, "definitions")
        raise PermissionDenied("Reviews are listed for administrators, readers and group owners.")
    filters = selectors.DefinitionFilter.from_params(request.GET)
    definitions = selectors.definition_list(request.user, filters)
    page = Paginator(definitions, selectors.PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "nav": "reviews",
        "filters": filters,
        "page": page,
        "rows": [describe.list_row(definition) for definition in page],
        "statuses": SeriesStatus.choices,
        "scope_types": ScopeType.choices,
        "viewer_zone": describe.viewer_zone(request.user),
    }
    return render(request, "accessreviews/definition_list.html", context)


@require_safe
@login_required
def definition_detail(request, uuid):
    page = selectors.definition_page(request.user, uuid)
    context = {"nav": "reviews", "p": page, "viewer_zone": describe.viewer_zone(request.user)}
    return render(request, "accessreviews/definition_detail.html", context)


def _act(request, uuid, service, done: str):
    """Call a series service; a refusal becomes a message on the series page."""
    definition = _definition_to_manage(request, uuid)
    try:
        service(request.user, definition)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, done)
    return redirect("accessreviews:definition-detail", uuid=definition.uuid)


@require_POST
@login_required
def definition_pause(request, uuid):
    done = "Series paused: no new reviews will start until it is resumed."
    return _act(request, uuid, services.definition_pause, done)


@require_POST
@login_required
def definition_resume(request, uuid):
    done = "Series resumed: occurrences that fell in the pause are skipped."
    return _act(request, uuid, services.definition_resume, done)


@require_POST
@login_required
def definition_end(request, uuid):
    done = "Series ended: no more reviews will start. Its past reviews are kept."
    return _act(request, uuid, services.definition_end, done)


@require_POST
@login_required
def definition_delete(request, uuid):
    definition = _definition_to_manage(request, uuid)
    try:
        services.definition_delete(request.user, definition)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
        return redirect("accessreviews:definition-detail", uuid=definition.uuid)
    messages.success(request, f"Deleted the review “{definition.name}”.")
    return redirect("accessreviews:definition-list")


@require_POST
@login_required
def definition_start_now(request, uuid):
    done = "Starting now: the review opens within a minute, and its reviewers are told."
    return _act(request, uuid, start_services.definition_start_now, done)
