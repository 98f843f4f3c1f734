"""Creating and managing review series. Each write is audited and keeps next_occurrence_at true."""

import zoneinfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accessreviews import schedule
from accessreviews.choices import SeriesStatus
from accessreviews.drafts import DefinitionDraft, check_draft
from accessreviews.models import DefinitionStage, ReviewDefinition
from accessreviews.permissions import may_manage, may_manage_scope
from directory import audit
from directory.models import Application

SCALAR_FIELDS = (
    "name",
    "description_for_admins",
    "description_for_reviewers",
    "scope_type",
    "principal_scope",
    "inactive_days",
    "role_assignment_scope",
    "time_zone",
    "start_date",
    "start_time",
    "recurrence",
    "interval",
    "end_rule",
    "end_date",
    "occurrence_count",
    "mail_notifications_enabled",
    "reminders_enabled",
    "reminder_days_before_end",
    "justification_required",
    "recommendation_look_back_days",
    "default_decision",
    "auto_apply",
    "denied_guest_action",
    "notify_removed_people",
    "auto_apply_max_removal_percent",
)
RELATIONS = (
    ("groups", "group_ids"),
    ("excluded_groups", "excluded_group_ids"),
    ("applications", "application_ids"),
    ("roles", "role_ids"),
    ("additional_recipients", "additional_recipient_ids"),
)
STAGE_RELATIONS = (
    ("reviewer_users", "reviewer_user_ids"),
    ("reviewer_groups", "reviewer_group_ids"),
    ("fallback_users", "fallback_user_ids"),
    ("fallback_groups", "fallback_group_ids"),
)


def validate(draft: DefinitionDraft, original_start_date=None, now=None) -> None:
    unassigned = Application.objects.filter(
        pk__in=draft.application_ids, assignment_required=False
    ).values_list("name", flat=True)
    errors = check_draft(
        draft,
        application_names_without_assignment=list(unassigned),
        today=_today_in(draft.time_zone, now),
        original_start_date=original_start_date,
    )
    if errors:
        raise ValidationError(errors)


def _today_in(zone_name: str, now=None):
    try:
        zone = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None  # check_draft reports the bad zone itself
    return (now or timezone.now()).astimezone(zone).date()


def definition_create(actor, draft: DefinitionDraft, now=None) -> ReviewDefinition:
    validate(draft, now=now)
    if not may_manage_scope(actor, draft.scope_type, draft.group_ids):
        audit.record(actor, "authz.denied.definition_create", None, {"scope": draft.scope_type})
        raise PermissionDenied("You may not create reviews of this scope.")
    with transaction.atomic():
        definition = ReviewDefinition(created_by=actor)
        _write(definition, draft)
        _schedule_next(definition, now or timezone.now(), from_index=0)
        definition.save()
        audit.record(actor, "definition.created", definition, summary(definition))
    return definition


def definition_update(
    actor, definition: ReviewDefinition, draft: DefinitionDraft, now=None
) -> ReviewDefinition:
    """Change the series; instances already running keep their own snapshot."""
    validate(draft, original_start_date=definition.start_date, now=now)
    _require_manager(actor, definition, "update")
    if not may_manage_scope(actor, draft.scope_type, draft.group_ids):
        audit.record(
            actor, "authz.denied.definition_update", definition, {"scope": draft.scope_type}
        )
        raise PermissionDenied("You may not manage reviews of this scope.")
    if definition.status == SeriesStatus.ENDED:
        raise ValidationError("This series has ended; it cannot be changed.")
    with transaction.atomic():
        before = summary(definition)
        _write(definition, draft)
        definition.updated_at = timezone.now()
        _schedule_next(
            definition, now or timezone.now(), from_index=definition.next_occurrence_index
        )
        definition.save()
        audit.record(
            actor,
            "definition.updated",
            definition,
            {"before": before, "after": summary(definition)},
        )
    return definition


def definition_pause(actor, definition: ReviewDefinition) -> None:
    _transition(actor, definition, SeriesStatus.ACTIVE, SeriesStatus.PAUSED, "definition.paused")


def definition_resume(actor, definition: ReviewDefinition, now=None) -> None:
    """Resume from the next future occurrence; those that fell in the pause are skipped."""
    now = now or timezone.now()
    _require_manager(actor, definition, "resume")
    with transaction.atomic():
        changed = ReviewDefinition.objects.filter(
            pk=definition.pk, status=SeriesStatus.PAUSED
        ).update(status=SeriesStatus.ACTIVE)
        if not changed:
            raise ValidationError("Only a paused series can be resumed.")
        definition.refresh_from_db()
        skipped_from = definition.next_occurrence_index
        index = schedule.first_index_starting_at_or_after(definition.schedule(), now)
        _schedule_next(definition, now, from_index=max(index, skipped_from))
        definition.save(update_fields=["next_occurrence_index", "next_occurrence_at", "status"])
        audit.record(
            actor,
            "definition.resumed",
            definition,
            {"skipped_occurrences": definition.next_occurrence_index - skipped_from},
        )


def definition_end(actor, definition: ReviewDefinition) -> None:
    _require_manager(actor, definition, "end")
    with transaction.atomic():
        changed = (
            ReviewDefinition.objects.filter(pk=definition.pk)
            .exclude(status=SeriesStatus.ENDED)
            .update(status=SeriesStatus.ENDED, next_occurrence_at=None)
        )
        if not changed:
            raise ValidationError("This series has already ended.")
        audit.record(actor, "definition.ended", definition, {})
    definition.refresh_from_db()


def definition_delete(actor, definition: ReviewDefinition) -> None:
    """Only a series that never started: a started review is evidence (end it instead)."""
    _require_manager(actor, definition, "delete")
    if definition.is_started:
        raise ValidationError(
            "This review has started: it is evidence and cannot be deleted. End the series instead."
        )
    with transaction.atomic():
        details = summary(definition)
        audit.record(actor, "definition.deleted", definition, details)
        definition.delete()


# --- Helpers -------------------------------------------------------------------------------------


def _require_manager(actor, definition, what: str) -> None:
    if not may_manage(actor, definition):
        audit.record(actor, f"authz.denied.definition_{what}", definition, {})
        raise PermissionDenied("You may read this review but not manage it.")


def _transition(actor, definition, source, target, action) -> None:
    _require_manager(actor, definition, action.rsplit(".", 1)[1])
    with transaction.atomic():
        changed = ReviewDefinition.objects.filter(pk=definition.pk, status=source).update(
            status=target
        )
        if not changed:
            raise ValidationError(
                f"The series is not {source.lower()}, so it cannot be {target.lower()}."
            )
        audit.record(actor, action, definition, {})
    definition.refresh_from_db()


def _write(definition: ReviewDefinition, draft: DefinitionDraft) -> None:
    for name in SCALAR_FIELDS:
        setattr(definition, name, getattr(draft, name))
    definition.save()
    for relation, ids in RELATIONS:
        getattr(definition, relation).set(getattr(draft, ids))
    definition.stages.all().delete()
    for ordinal, stage_draft in enumerate(draft.stages, start=1):
        stage = DefinitionStage.objects.create(
            definition=definition,
            ordinal=ordinal,
            duration_days=stage_draft.duration_days,
            reviewer_type=stage_draft.reviewer_type,
            recommendations_enabled=stage_draft.recommendations_enabled,
            decisions_that_move_on=stage_draft.decisions_that_move_on,
            show_earlier_decisions=stage_draft.show_earlier_decisions,
        )
        for relation, ids in STAGE_RELATIONS:
            getattr(stage, relation).set(getattr(stage_draft, ids))


def _schedule_next(definition: ReviewDefinition, now, from_index: int) -> None:
    """Point the series at its next unstarted occurrence (None when there is none)."""
    plan = definition.schedule()
    definition.next_occurrence_index = from_index
    if definition.status == SeriesStatus.ENDED or not schedule.exists(plan, from_index):
        definition.next_occurrence_at = None
    else:
        definition.next_occurrence_at = schedule.occurrence(plan, from_index).start


def _index_after_edit(definition: ReviewDefinition, now) -> int:
    """A series that never started begins at its first occurrence (the tick starts it, or
    skips and audits it if its window has closed); a started one goes on from now, under the
    new schedule."""
    if not definition.is_started:
        return 0
    return schedule.first_index_starting_at_or_after(definition.schedule(), now)


def summary(definition: ReviewDefinition) -> dict:
    """What the audit log keeps of a definition's settings."""
    values = {name: getattr(definition, name) for name in SCALAR_FIELDS}
    values["stages"] = (
        [
            {
                "ordinal": s.ordinal,
                "reviewer_type": s.reviewer_type,
                "duration_days": s.duration_days,
            }
            for s in definition.stages.all()
        ]
        if definition.pk
        else []
    )
    return {
        key: (str(value) if hasattr(value, "isoformat") else value) for key, value in values.items()
    }
