"""The access panel: "My reviews", one stage's page, and the decisions made on it.

Visibility is the caller's own links only (selectors_panel): no assignment or link -> 404,
whatever their roles. A past stage is read-only (403 on a decision, audited); a closed review
says so and changes nothing, also when the page was loaded before it closed (the decision
service compares and sets against the open stage and raises StageClosed). Every decision is a
POST (CSRF); htmx posts get the re-read row back, plain posts a redirect to the same page.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from accessreviews import describe
from accessreviews import selectors_panel as selectors
from accessreviews.forms.panel import (
    MATCHING,
    PENDING,
    AcceptForm,
    BulkDecisionForm,
    DecisionForm,
)
from accessreviews.models import DecisionItem, ReviewerAssignment
from accessreviews.models.instances import Recommendation
from accessreviews.services.decisions import (
    StageClosed,
    decision_record,
    recommendations_accept,
)
from directory import audit
from directory.models import AccessPath, UserType

CLOSED = "This review has closed: decisions are read-only and nothing was changed."
PAST = "This stage has ended: its decisions are read-only."
FILTER_OPTIONS = {
    "status_options": list(selectors.PanelFilter.STATUSES.items()),
    "recommendation_options": Recommendation.choices,
    "user_type_options": UserType.choices,
    "path_options": AccessPath.choices,
}
VERBS = {"Approve": "Approved", "Deny": "Denied", "DontKnow": "Marked “Don't know” for"}


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _context(request, **extra) -> dict:
    return {"nav": "my-reviews", "viewer_zone": describe.viewer_zone(request.user), **extra}


@require_safe
@login_required
def my_reviews(request):
    open_, past = selectors.my_assignments(request.user)
    zone = describe.viewer_zone(request.user)
    rows = [(a, selectors.days_left(a.stage.end_at, zone), selectors.Progress.of(a)) for a in open_]
    return render(
        request, "accessreviews/panel/my_reviews.html", _context(request, open=rows, past=past)
    )


@require_safe
@login_required
def review_open(request, uuid):
    """A message's link: my open stage of this review, else my latest one."""
    assignment = (
        ReviewerAssignment.objects.filter(reviewer=request.user, stage__instance__uuid=uuid)
        .order_by("-stage__ordinal")
        .values_list("stage__ordinal", flat=True)
        .first()
    )
    if assignment is None:
        raise Http404("No review of yours here.")
    return redirect("accessreviews:review-panel", uuid=uuid, ordinal=assignment)


@require_safe
@login_required
def review_panel(request, uuid, ordinal):
    assignment = selectors.assignment_for(request.user, uuid, ordinal)
    filters = selectors.PanelFilter.from_params(request.GET)
    cursor = selectors.Cursor.loads(
        request.GET.get("cursor", ""), selectors.cursor_scope(assignment)
    )
    panel = selectors.panel_page(assignment, filters, cursor)
    zone = describe.viewer_zone(request.user)
    context = _context(
        request,
        p=panel,
        here=_return_query(request.GET),
        days_left=selectors.days_left(assignment.stage.end_at, zone),
        **FILTER_OPTIONS,
    )
    return render(request, "accessreviews/panel/review.html", context)


# --- Deciding ----------------------------------------------------------------------------------


def _assignment_to_decide(request, uuid, ordinal):
    """(assignment, closed): 404 without one, 403 (audited) on a past stage."""
    assignment = selectors.assignment_for(request.user, uuid, ordinal)
    panel = selectors.Panel(assignment)
    if panel.is_past_stage:
        audit.record_denied(request, "panel_decide", assignment.stage.instance, stage=ordinal)
        raise PermissionDenied(PAST)
    return assignment, not panel.is_open


def _return_query(params) -> str:
    """The page's own filters and cursor, as a query string: where a decision sends you back."""
    kept = QueryDict(mutable=True)
    for name in (*selectors.PanelFilter.PARAMS, "cursor"):
        value = params.get(name, "")
        if value:
            kept[name] = value[:500]
    return kept.urlencode()


def _back(request, assignment, anchor: str = ""):
    url = reverse(
        "accessreviews:review-panel",
        kwargs={"uuid": assignment.stage.instance.uuid, "ordinal": assignment.stage.ordinal},
    )
    query = _return_query(QueryDict(request.POST.get("here", "")))
    return redirect(f"{url}{'?' + query if query else ''}{anchor}")


def _errors(error) -> str:
    """A refusal in words that name the field: 'Reason: This review requires a justification.'"""
    if hasattr(error, "error_dict"):
        error = error.message_dict
    elif isinstance(error, ValidationError):
        return " ".join(error.messages)
    return " ".join(f"{_label(name)}{' '.join(texts)}" for name, texts in error.items())


def _label(name: str) -> str:
    labels = {
        "justification": "Reason",
        "items": "Selection",
        "decision": "Decision",
        # The filters, as the page's filter form names them.
        "status": "Decision filter",
        "recommendation": "Recommendation filter",
        "user_type": "User type filter",
        "path": "Access filter",
        "q": "Name or email filter",
    }
    return "" if name == "__all__" else f"{labels.get(name, name.title())}: "


@require_POST
@login_required
def item_decide(request, uuid, ordinal, item):
    item = selectors.item_for(request.user, uuid, item, ordinal)
    assignment, closed = _assignment_to_decide(request, uuid, ordinal)
    if not item.linked_here:
        audit.record_denied(request, "panel_decide", item.instance, stage=ordinal)
        raise PermissionDenied("You are not a reviewer of this person in this stage.")
    form = DecisionForm(request.POST)
    notice, error = "", ""
    if closed:
        notice = CLOSED
    elif not form.is_valid():
        error = _errors(form.errors)
    else:
        try:
            decision_record(
                request.user,
                assignment.stage,
                form.cleaned_data["decision"],
                items=[item.pk],
                justification=form.cleaned_data["justification"],
            )
        except StageClosed:
            notice = CLOSED
        except ValidationError as refusal:
            error = _errors(refusal)
    return _answer_one(request, assignment, item, notice=notice, error=error, form=form)


def _answer_one(request, assignment, item, *, notice, error, form):
    if _is_htmx(request):
        row = selectors.panel_row(assignment, item.pk)  # re-reads my counters too
        panel = selectors.Panel(assignment)
        context = _context(
            request,
            p=panel,
            row=row,
            notice=notice,
            error=error,
            typed=request.POST.get("justification", "")[:1000] if error else "",
            here=request.POST.get("here", ""),
            swap=True,
        )
        return render(request, "accessreviews/panel/_row_swap.html", context)
    if notice:
        messages.warning(request, notice)
    elif error:
        messages.error(request, f"{item.principal_name}: {error}")
    else:
        verb = VERBS.get(form.cleaned_data["decision"], "Decided")
        messages.success(request, f"{verb} {item.principal_name}.")
    return _back(request, assignment, f"#item-{item.uuid}")


def _refused(request, assignment, text: str):
    messages.error(request, text)
    return _back(request, assignment)


@require_POST
@login_required
def items_decide(request, uuid, ordinal):
    assignment, closed = _assignment_to_decide(request, uuid, ordinal)
    if closed:
        return _refused(request, assignment, CLOSED)
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        return _refused(request, assignment, _errors(form.errors))
    data = form.cleaned_data
    if data["scope"] == MATCHING:
        # Re-evaluated now, in the service's statements, within my links of the open stage.
        try:
            item_filter = selectors.PanelFilter.from_post(request.POST).item_q()
        except ValidationError as refusal:
            return _refused(request, assignment, _errors(refusal))
    else:
        item_filter = Q(uuid__in=data["items"])
    try:
        count = decision_record(
            request.user,
            assignment.stage,
            data["decision"],
            item_filter=item_filter,
            justification=data["justification"],
        )
    except StageClosed:
        return _refused(request, assignment, CLOSED)
    except ValidationError as refusal:
        return _refused(request, assignment, _errors(refusal))
    verb = VERBS.get(data["decision"], "Decided")
    messages.success(request, f"{verb} {describe.plural(count, 'person', 'people')}.")
    return _back(request, assignment)


@require_POST
@login_required
def recommendations_take(request, uuid, ordinal):
    assignment, closed = _assignment_to_decide(request, uuid, ordinal)
    if closed:
        return _refused(request, assignment, CLOSED)
    form = AcceptForm(request.POST)
    if not form.is_valid():
        return _refused(request, assignment, _errors(form.errors))
    items = None
    if form.cleaned_data["accept"] != PENDING:
        items = DecisionItem.objects.filter(
            instance_id=assignment.stage.instance_id, uuid__in=form.cleaned_data["items"]
        ).values_list("pk", flat=True)
    try:
        count = recommendations_accept(
            request.user,
            assignment.stage,
            items=items,
            justification=form.cleaned_data["justification"],
        )
    except StageClosed:
        return _refused(request, assignment, CLOSED)
    except ValidationError as refusal:
        return _refused(request, assignment, _errors(refusal))
    if count:
        done = f"Accepted the recommendation for {describe.plural(count, 'person', 'people')}."
        messages.success(request, done)
    else:
        messages.info(request, "No pending item with a recommendation to accept.")
    return _back(request, assignment)
