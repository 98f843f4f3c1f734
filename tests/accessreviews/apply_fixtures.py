"""Completed instances to apply: one review, started and ended for real, with set decisions."""

import datetime as dt

from accessreviews.choices import Decision, ReviewerType, ScopeType
from accessreviews.drafts import StageDraft
from accessreviews.models import DecisionItem, ReviewInstance
from accessreviews.models.instances import InstanceStatus
from accessreviews.services.definitions import definition_create
from accessreviews.services.stages import instance_end
from accessreviews.services.start import instances_start_due
from directory.models import Group, PrincipalType
from tests.accessreviews.factories import group_review_draft

UTC = dt.UTC
BEFORE = dt.datetime(2026, 11, 1, tzinfo=UTC)
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # Paris 09:00
NOW = START + dt.timedelta(hours=1)
END = dt.datetime(2026, 12, 15, 8, 0, tzinfo=UTC)
AFTER = END + dt.timedelta(hours=1)


def completed_review(actor, decisions: dict, *, groups=(), end=True, **changes) -> ReviewInstance:
    """Define, start and end a one-resource review; `decisions` maps a principal (user or group)
    to its final decision (the rest stay NotReviewed)."""
    changes.setdefault("name", "Falcon review")
    definition_create(actor, group_review_draft(list(groups), **changes), now=BEFORE)
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    for principal, decision in decisions.items():
        DecisionItem.objects.filter(
            instance=instance, principal_type=kind_of(principal), principal_id=principal.pk
        ).update(decision=decision)
    if end:
        instance_end(instance, END)
        instance.refresh_from_db()
        assert instance.status == InstanceStatus.COMPLETED
    return instance


def application_review(actor, app, reviewer, decisions, **changes) -> ReviewInstance:
    return completed_review(
        actor,
        decisions,
        scope_type=ScopeType.APPLICATION_ASSIGNEES,
        application_ids=[app.pk],
        stages=[selected_stage(reviewer)],
        **changes,
    )


def role_review(actor, role, reviewer, decisions, **changes) -> ReviewInstance:
    return completed_review(
        actor,
        decisions,
        scope_type=ScopeType.ROLE_ASSIGNEES,
        role_ids=[role.pk],
        stages=[selected_stage(reviewer)],
        **changes,
    )


def selected_stage(reviewer) -> StageDraft:
    return StageDraft(
        duration_days=14, reviewer_type=ReviewerType.SELECTED, reviewer_user_ids=[reviewer.pk]
    )


def kind_of(principal) -> str:
    return PrincipalType.GROUP if isinstance(principal, Group) else PrincipalType.USER


def item_of(instance, principal) -> DecisionItem:
    return DecisionItem.objects.get(
        instance=instance, principal_type=kind_of(principal), principal_id=principal.pk
    )


DENY, APPROVE, DONT_KNOW = Decision.DENY, Decision.APPROVE, Decision.DONT_KNOW
