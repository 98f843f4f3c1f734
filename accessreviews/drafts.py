"""A definition before it is saved, and every rule it must satisfy (shared by the wizard, the
edit form and the Django admin, so all three refuse the same things with the same words).

check_draft() returns {field: [messages]}; an empty dict means the draft may be saved.
"""

import datetime
import zoneinfo
from dataclasses import dataclass, field

from accessreviews import schedule
from accessreviews.choices import (
    MOVE_ON_ALL,
    DefaultDecision,
    DeniedGuestAction,
    PrincipalScope,
    ReviewerType,
    RoleAssignmentScope,
    ScopeType,
)
from accessreviews.models.definitions import (
    APPLICATION_LOOK_BACK_MAX,
    DESCRIPTION_FOR_REVIEWERS_MAX,
    INACTIVE_DAYS_MAX,
    MAX_STAGES,
)
from accessreviews.schedule import EndRule, Recurrence

JUSTIFICATION_MAX = 1000


@dataclass
class StageDraft:
    reviewer_type: str = ReviewerType.GROUP_OWNERS
    duration_days: int = 14
    reviewer_user_ids: list[int] = field(default_factory=list)
    reviewer_group_ids: list[int] = field(default_factory=list)
    fallback_user_ids: list[int] = field(default_factory=list)
    fallback_group_ids: list[int] = field(default_factory=list)
    recommendations_enabled: bool = True
    decisions_that_move_on: list[str] = field(default_factory=lambda: list(MOVE_ON_ALL))
    show_earlier_decisions: bool = True


@dataclass
class DefinitionDraft:
    name: str = ""
    description_for_admins: str = ""
    description_for_reviewers: str = ""
    scope_type: str = ScopeType.GROUP_MEMBERS
    principal_scope: str = PrincipalScope.EVERYONE
    inactive_days: int | None = None
    role_assignment_scope: str = RoleAssignmentScope.BOTH
    group_ids: list[int] = field(default_factory=list)
    excluded_group_ids: list[int] = field(default_factory=list)
    application_ids: list[int] = field(default_factory=list)
    role_ids: list[int] = field(default_factory=list)
    stages: list[StageDraft] = field(default_factory=lambda: [StageDraft()])
    time_zone: str = "UTC"
    start_date: datetime.date | None = None
    start_time: datetime.time = datetime.time(9, 0)
    recurrence: str = Recurrence.ONE_TIME
    interval: int = 1
    end_rule: str = EndRule.NEVER
    end_date: datetime.date | None = None
    occurrence_count: int | None = None
    mail_notifications_enabled: bool = True
    reminders_enabled: bool = True
    reminder_days_before_end: list[int] = field(default_factory=list)
    justification_required: bool = False
    recommendation_look_back_days: int = 30
    default_decision: str = DefaultDecision.NONE
    auto_apply: bool = False
    denied_guest_action: str = DeniedGuestAction.REMOVE_ACCESS
    notify_removed_people: bool = False
    additional_recipient_ids: list[int] = field(default_factory=list)
    auto_apply_max_removal_percent: int = 50

    @property
    def duration_days(self) -> int:
        return sum(stage.duration_days for stage in self.stages)

    def schedule(self) -> schedule.Schedule:
        return schedule.Schedule(
            self.time_zone,
            self.start_date,
            self.start_time,
            self.duration_days,
            self.recurrence,
            self.interval,
            self.end_rule,
            self.end_date,
            self.occurrence_count,
        )


class Errors(dict):
    def add(self, name: str, message: str) -> None:
        self.setdefault(name, []).append(message)


def check_draft(
    draft: DefinitionDraft,
    *,
    application_names_without_assignment=(),
    today: datetime.date | None = None,
    original_start_date: datetime.date | None = None,
) -> Errors:
    """Every rule a definition must satisfy, each message on the field it is about.

    `today` (in the definition's zone) enables the start-date window; `original_start_date`
    lets an edit keep a start date that has since passed.
    """
    errors = Errors()
    _check_texts(draft, errors)
    _check_scope(draft, errors, application_names_without_assignment)
    _check_stages(draft, errors)
    _check_schedule(draft, errors)
    if today is not None:
        _check_start_window(draft, errors, today, original_start_date)
    _check_settings(draft, errors)
    return errors


def _check_texts(draft, errors):
    if not draft.name.strip():
        errors.add("name", "Give the review a name.")
    if len(draft.description_for_reviewers) > DESCRIPTION_FOR_REVIEWERS_MAX:
        errors.add(
            "description_for_reviewers",
            f"At most {DESCRIPTION_FOR_REVIEWERS_MAX} characters (emails carry no more); "
            f"this has {len(draft.description_for_reviewers)}.",
        )


def _check_scope(draft, errors, applications_without_assignment):
    selected = {
        ScopeType.GROUP_MEMBERS: ("group_ids", draft.group_ids, "Select at least one group."),
        ScopeType.APPLICATION_ASSIGNEES: (
            "application_ids",
            draft.application_ids,
            "Select at least one application.",
        ),
        ScopeType.ROLE_ASSIGNEES: (
            "role_ids",
            draft.role_ids,
            "Select at least one directory role.",
        ),
    }
    if draft.scope_type not in ScopeType.values:
        errors.add("scope_type", "Choose what to review.")
        return
    if draft.scope_type in selected:
        name, ids, message = selected[draft.scope_type]
        if not ids:
            errors.add(name, message)
    if draft.scope_type == ScopeType.ALL_GROUPS_WITH_GUESTS and (
        draft.principal_scope != PrincipalScope.GUESTS_ONLY
    ):
        errors.add("principal_scope", "Reviews of all groups with guests review guests only.")
    for name in applications_without_assignment:
        errors.add(
            "application_ids",
            f"{name} does not require assignment, so anyone can sign in to it: it cannot "
            "be reviewed. Turn on “assignment required” for it first.",
        )
    if draft.inactive_days is not None and not 1 <= draft.inactive_days <= INACTIVE_DAYS_MAX:
        errors.add("inactive_days", f"Between 1 and {INACTIVE_DAYS_MAX} days.")


def _check_stages(draft, errors):
    if not 1 <= len(draft.stages) <= MAX_STAGES:
        errors.add("stages", f"A review has 1 to {MAX_STAGES} stages.")
        return
    for number, stage in enumerate(draft.stages, start=1):
        prefix = f"stages.{number}"
        _check_stage_reviewers(draft, stage, prefix, errors)
        if stage.duration_days < 1:
            errors.add(f"{prefix}.duration_days", "At least 1 day.")
        unknown = set(stage.decisions_that_move_on) - set(MOVE_ON_ALL)
        if unknown:
            errors.add(f"{prefix}.decisions_that_move_on", "Unknown decision.")
        if number < len(draft.stages) and not stage.decisions_that_move_on:
            errors.add(
                f"{prefix}.decisions_that_move_on",
                "Choose which decisions go on to the next stage.",
            )


def _check_stage_reviewers(draft, stage, prefix, errors):
    if stage.reviewer_type not in ReviewerType.values:
        errors.add(f"{prefix}.reviewer_type", "Choose who reviews.")
        return
    if stage.reviewer_type == ReviewerType.GROUP_OWNERS and draft.scope_type not in (
        ScopeType.GROUP_MEMBERS,
        ScopeType.ALL_GROUPS_WITH_GUESTS,
    ):
        errors.add(f"{prefix}.reviewer_type", "Group owners review groups only.")
    if (
        stage.reviewer_type == ReviewerType.APPLICATION_OWNERS
        and draft.scope_type != ScopeType.APPLICATION_ASSIGNEES
    ):
        errors.add(f"{prefix}.reviewer_type", "Application owners review applications only.")
    if stage.reviewer_type == ReviewerType.SELECTED and not (
        stage.reviewer_user_ids or stage.reviewer_group_ids
    ):
        errors.add(f"{prefix}.reviewer_user_ids", "Select at least one reviewer.")


def _check_schedule(draft, errors):
    try:
        zoneinfo.ZoneInfo(draft.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.add("time_zone", "Not an IANA time zone (for example Europe/Paris).")
        return
    if draft.start_date is None:
        errors.add("start_date", "Choose a start date.")
    if draft.recurrence not in Recurrence.values:
        errors.add("recurrence", "Choose how often the review runs.")
        return
    if draft.interval < 1:
        errors.add("interval", "At least 1.")
        return
    limit = schedule.max_duration_days(draft.recurrence, draft.interval)
    if draft.duration_days > limit:
        where = "stages" if len(draft.stages) > 1 else "stages.1.duration_days"
        if draft.recurrence == Recurrence.ONE_TIME:
            message = (
                f"A one-time review runs at most {limit} days in all, not {draft.duration_days}."
            )
        else:
            message = (
                f"A {Recurrence(draft.recurrence).label.lower()} review must end before the "
                f"next one starts: at most {limit} days in all (the stages' durations, on the "
                f"reviewers step), not {draft.duration_days}."
            )
        errors.add(where, message)
    if draft.recurrence == Recurrence.ONE_TIME:
        return
    if draft.end_rule == EndRule.ON_DATE:
        if draft.end_date is None:
            errors.add("end_date", "Choose the date the series ends.")
        elif draft.start_date and draft.end_date < draft.start_date:
            errors.add("end_date", "The series cannot end before it starts.")
    if draft.end_rule == EndRule.AFTER and not (draft.occurrence_count or 0) >= 1:
        errors.add("occurrence_count", "At least 1 occurrence.")


START_WITHIN_YEARS = 5


def _check_start_window(draft, errors, today, original_start_date) -> None:
    if draft.start_date is None or draft.start_date == original_start_date:
        return
    if draft.start_date < today:
        errors.add("start_date", "The review cannot start in the past.")
    elif draft.start_date > today.replace(year=today.year + START_WITHIN_YEARS, day=28):
        errors.add("start_date", f"Start within the next {START_WITHIN_YEARS} years.")
    if draft.end_date and draft.end_date.year >= datetime.MAXYEAR:
        errors.add("end_date", "Choose an end date before the year 9999.")


def _check_settings(draft, errors):
    look_back_max = (
        APPLICATION_LOOK_BACK_MAX
        if draft.scope_type == ScopeType.APPLICATION_ASSIGNEES
        else INACTIVE_DAYS_MAX
    )
    if not 1 <= draft.recommendation_look_back_days <= look_back_max:
        errors.add("recommendation_look_back_days", f"Between 1 and {look_back_max} days.")
    if draft.denied_guest_action == DeniedGuestAction.DISABLE_AND_DELETE and (
        draft.principal_scope != PrincipalScope.GUESTS_ONLY
        or draft.scope_type == ScopeType.ALL_GROUPS_WITH_GUESTS
    ):
        errors.add(
            "denied_guest_action",
            "Blocking and deleting denied guests needs a guests-only review (and is not "
            "offered for all groups with guests).",
        )
    if not 1 <= draft.auto_apply_max_removal_percent <= 100:
        errors.add("auto_apply_max_removal_percent", "Between 1 and 100 percent.")
    shortest_stage = min((stage.duration_days for stage in draft.stages), default=0)
    for days in draft.reminder_days_before_end:
        if not 1 <= days < max(shortest_stage, 2):
            errors.add(
                "reminder_days_before_end",
                "Each reminder must fall inside the stage (1 day before its end or more, "
                "and less than its duration).",
            )
            break
