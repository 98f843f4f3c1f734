"""The instance page (one run of a series over one resource) and its admin operations.

Who sees it: whoever sees the series (selectors.instance_for: admins, readers, the series'
managers); anyone else gets a 404. Operations need may_manage: a reader's POST is a 403 and an
audit event. Each operation is a POST behind a confirmation; the services check again, lock,
and audit. A refusal (stage closed meanwhile, nothing to do) is a message, never a 500.
"""

import zoneinfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from accessreviews import describe, selectors
from accessreviews.forms.instances import ExtendForm, ReassignForm, StageForm
from accessreviews.models import ReviewStage
from accessreviews.services import operations
from accessreviews.services.reminders import reminder_send_now
from directory import audit


def _page_context(request, page, **forms):
    zone = describe.viewer_zone(request.user)
    end = page.instance.end_at.astimezone(zoneinfo.ZoneInfo(zone))
    context = {
        "nav": "reviews",
        "p": page,
        "viewer_zone": zone,
        "extend_form": ExtendForm(
            zone=zone, initial={"new_end_date": end.date(), "new_end_time": end.time()}
        ),
        "reassign_form": ReassignForm(reviewers=page.open_reviewers),
    }
    context.update(forms)
    return context


@require_safe
@login_required
def instance_detail(request, uuid):
    page = selectors.instance_page(request.user, uuid)
    return render(request, "accessreviews/instance_detail.html", _page_context(request, page))


def _instance_to_manage(request, uuid):
    """The instance, if the user may see (else 404) and manage it (else 403, audited)."""
    instance, can_manage = selectors.instance_for(request.user, uuid)
    if not can_manage:
        audit.record_denied(request, "instance_manage", instance)
        raise PermissionDenied("You may read this review but not manage it.")
    return instance


def _posted_stage(request, instance) -> ReviewStage | None:
    """The stage the form was shown for (its ordinal is posted, so a stale page cannot act on
    the stage that has opened since)."""
    form = StageForm(request.POST)
    if not form.is_valid():
        return None
    ordinal = form.cleaned_data["stage"]
    stage = ReviewStage.objects.filter(instance=instance, ordinal=ordinal).first()
    if stage is not None:
        stage.instance = instance
    return stage


def _done(request, instance):
    return redirect("accessreviews:instance-detail", uuid=instance.uuid)


def _act(request, uuid, call):
    """Run one operation (`call` returns what to tell); a refusal becomes an error message."""
    instance = _instance_to_manage(request, uuid)
    try:
        text = call(request.user, instance)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, text)
    return _done(request, instance)


def _on_stage(request, uuid, call):
    def on_stage(user, instance):
        stage = _posted_stage(request, instance)
        if stage is None:
            raise ValidationError("That stage is not part of this review; reload the page.")
        return call(user, stage)

    return _act(request, uuid, on_stage)


@require_POST
@login_required
def instance_stop(request, uuid):
    def stop(user, instance):
        operations.instance_stop(user, instance)
        return "Review stopped: the default decision went to undecided people. It cannot restart."

    return _act(request, uuid, stop)


@require_POST
@login_required
def stage_stop(request, uuid):
    def stop(user, stage):
        result = operations.stage_stop(user, stage)
        if getattr(result, "next_stage", None):
            return f"Stage {stage.ordinal} stopped; stage {result.next_stage} has started."
        return "Stage stopped and the review has ended: nobody was left to review."

    return _on_stage(request, uuid, stop)


@require_POST
@login_required
def stage_reset(request, uuid):
    def reset(user, stage):
        count = operations.stage_reset(user, stage)
        if not count:
            return "Nothing to reset: no decision was made in this stage yet."
        return f"Reset {describe.plural(count, 'decision')} of stage {stage.ordinal}."

    return _on_stage(request, uuid, reset)


@require_POST
@login_required
def reviewers_reresolve(request, uuid):
    def reresolve(user, stage):
        result = operations.reviewers_reresolve(user, stage)
        if not result.changed:
            return "Reviewers are up to date: nothing changed."
        added, removed = sum(result.added.values()), sum(result.removed.values())
        return f"Reviewers updated: {added} assignments added, {removed} removed."

    return _on_stage(request, uuid, reresolve)


@require_POST
@login_required
def reminder_send(request, uuid):
    def remind(user, stage):
        sent = reminder_send_now(user, stage)
        return f"Reminder sent to {describe.plural(sent, 'reviewer')} with decisions left."

    return _on_stage(request, uuid, remind)


@require_POST
@login_required
def instance_extend(request, uuid):
    instance = _instance_to_manage(request, uuid)
    zone = describe.viewer_zone(request.user)
    form = ExtendForm(request.POST, zone=zone)
    if form.is_valid():
        try:
            operations.instance_extend(request.user, instance, form.cleaned_data["new_end"])
        except ValidationError as refusal:
            _add_errors(form, refusal, {"new_end": "new_end_date"})
        else:
            when = describe.moment(form.cleaned_data["new_end"], zone)
            messages.success(request, f"The review now ends {when} ({zone}).")
            return _done(request, instance)
    page = selectors.instance_page(request.user, uuid)
    context = _page_context(request, page, extend_form=form, open_form="extend")
    return render(request, "accessreviews/instance_detail.html", context)


@require_POST
@login_required
def items_reassign(request, uuid):
    instance = _instance_to_manage(request, uuid)
    posted = _posted_stage(request, instance)
    if posted is None:
        messages.error(request, "That stage is not part of this review; reload the page.")
        return _done(request, instance)
    page = selectors.instance_page(request.user, uuid)
    stage = page.open_stage
    if stage is None or stage.pk != posted.pk:
        # A page shown for a stage that has closed since: its reviewers and counts are stale.
        messages.error(request, "This stage is no longer open; reload the page to see where it is.")
        return _done(request, instance)
    form = ReassignForm(request.POST, reviewers=page.open_reviewers)
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = operations.items_reassign(
                request.user, stage, data["from_reviewer"], data["to_reviewer"], data["reason"]
            )
        except ValidationError as refusal:
            _add_errors(form, refusal, {})
        else:
            text = f"Reassigned {describe.plural(result.moved, 'item')} to "
            text += f"{data['to_reviewer'].display_name}."
            if result.kept:
                text += f" {result.kept} stayed: they never review their own access."
            messages.success(request, text)
            return _done(request, instance)
    context = _page_context(request, page, reassign_form=form, open_form="reassign")
    return render(request, "accessreviews/instance_detail.html", context)


def _add_errors(form, refusal: ValidationError, names: dict) -> None:
    if not hasattr(refusal, "error_dict"):
        form.add_error(None, refusal)
        return
    for key, errors in refusal.message_dict.items():
        field = names.get(key, key)
        form.add_error(field if field in form.fields else None, errors)
