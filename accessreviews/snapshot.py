"""A definition's scope, reviewers, stages and settings as one JSON dict (an instance's copy).

Every step after the start reads only this copy, so editing the series never changes a review
that is already running. Ids only (no names): names of people are snapshotted on the items.
"""

from accessreviews.models import ReviewDefinition

SNAPSHOT_VERSION = 1

SETTING_FIELDS = (
    "name",
    "description_for_reviewers",
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


def _ids(manager) -> list[int]:
    return sorted(manager.values_list("pk", flat=True))


def definition_snapshot(definition: ReviewDefinition) -> dict:
    """A fixed number of queries (the definition's relations and its 1-3 stages)."""
    stages = list(
        definition.stages.order_by("ordinal").prefetch_related(
            "reviewer_users", "reviewer_groups", "fallback_users", "fallback_groups"
        )
    )
    return {
        "version": SNAPSHOT_VERSION,
        "definition": {"id": definition.pk, "uuid": str(definition.uuid)},
        "scope": {
            "type": definition.scope_type,
            "principal_scope": definition.principal_scope,
            "inactive_days": definition.inactive_days,
            "role_assignment_scope": definition.role_assignment_scope,
            "group_ids": _ids(definition.groups),
            "excluded_group_ids": _ids(definition.excluded_groups),
            "application_ids": _ids(definition.applications),
            "role_ids": _ids(definition.roles),
        },
        "stages": [
            {
                "ordinal": stage.ordinal,
                "duration_days": stage.duration_days,
                "reviewer_type": stage.reviewer_type,
                # prefetched: sorted in Python, no further queries
                "reviewer_user_ids": sorted(u.pk for u in stage.reviewer_users.all()),
                "reviewer_group_ids": sorted(g.pk for g in stage.reviewer_groups.all()),
                "fallback_user_ids": sorted(u.pk for u in stage.fallback_users.all()),
                "fallback_group_ids": sorted(g.pk for g in stage.fallback_groups.all()),
                "recommendations_enabled": stage.recommendations_enabled,
                "decisions_that_move_on": list(stage.decisions_that_move_on),
                "show_earlier_decisions": stage.show_earlier_decisions,
            }
            for stage in stages
        ],
        "settings": {name: getattr(definition, name) for name in SETTING_FIELDS}
        | {"additional_recipient_ids": _ids(definition.additional_recipients)},
        "schedule": {
            "time_zone": definition.time_zone,
            "start_date": definition.start_date.isoformat(),
            "start_time": definition.start_time.isoformat(),
            "recurrence": definition.recurrence,
            "interval": definition.interval,
        },
    }
