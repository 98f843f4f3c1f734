"""A review definition's settings in plain words, for the series page and the wizard's summary.

Functions read attributes, not the database: give them a ReviewDefinition whose relations are
prefetched (accessreviews.selectors does), or any object with the same attribute names. Lists
come back as `Line(label, text)` rows for a <dl>.
"""

import datetime
import zoneinfo
from dataclasses import dataclass

from django.conf import settings

from accessreviews.choices import (
    MOVE_ON_ALL,
    MOVE_ON_CHOICES,
    DefaultDecision,
    DeniedGuestAction,
    PrincipalScope,
    ReviewerType,
    RoleAssignmentScope,
    ScopeType,
)
from accessreviews.models.definitions import GUARD_MINIMUM_REMOVALS
from accessreviews.schedule import EndRule, Recurrence

# One step of each recurrence: (singular, plural); semi-annual steps count in months.
UNITS = {
    Recurrence.WEEKLY: ("week", "weeks"),
    Recurrence.MONTHLY: ("month", "months"),
    Recurrence.QUARTERLY: ("quarter", "quarters"),
    Recurrence.SEMI_ANNUALLY: ("six months", None),
    Recurrence.ANNUALLY: ("year", "years"),
}
MOVE_ON_LABELS = dict(MOVE_ON_CHOICES)
# How many names a sentence lists before it says "and N more".
NAMES_SHOWN = 5


@dataclass(frozen=True)
class Line:
    label: str
    text: str


# --- Small words -------------------------------------------------------------------------------


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def names(items, limit: int = NAMES_SHOWN) -> str:
    """'A', 'A and B', 'A, B and C', 'A, B, C, D, E and 3 more'."""
    labels = [_name(item) for item in items]
    if len(labels) > limit:
        labels = [*labels[:limit], f"{len(labels) - limit} more"]
    if len(labels) <= 1:
        return "".join(labels)
    return f"{', '.join(labels[:-1])} and {labels[-1]}"


def _name(item) -> str:
    # People by display name alone (a User's str() adds the UPN); everything else as itself.
    return getattr(item, "display_name", None) or str(item)


def day(value: datetime.date) -> str:
    """'Tue 1 Dec 2026' (no locale, no leading zero)."""
    return f"{value:%a} {value.day} {value:%b %Y}"


def moment(value: datetime.datetime, zone: str) -> str:
    """An instant as a wall time in `zone`: 'Tue 1 Dec 2026, 09:00'."""
    local = value.astimezone(zoneinfo.ZoneInfo(zone))
    return f"{day(local.date())}, {local:%H:%M}"


def viewer_zone(user) -> str:
    """The zone times are shown in for this person: their own, else the portal's."""
    return getattr(user, "time_zone", "") or settings.TIME_ZONE


# --- Schedule ------------------------------------------------------------------------------------


def describe_recurrence(recurrence: str, interval: int = 1) -> str:
    """'One time', 'Monthly', 'Every 2 weeks', 'Every 12 months'."""
    if recurrence == Recurrence.ONE_TIME:
        return "One time"
    if interval == 1:
        return Recurrence(recurrence).label
    return _every(recurrence, interval)


def _every(recurrence: str, interval: int) -> str:
    singular, many = UNITS[recurrence]
    if interval == 1:
        return f"Every {singular}"
    if many is None:  # semi-annually
        return f"Every {6 * interval} months"
    return f"Every {interval} {many}"


def describe_schedule(definition) -> str:
    """'Every month from Tue 1 Dec 2026 at 09:00 (Europe/Paris), for 14 days, 6 times'."""
    when = f"{day(definition.start_date)} at {definition.start_time:%H:%M} ({definition.time_zone})"
    duration = f"for {plural(definition.duration_days, 'day')}"
    if definition.recurrence == Recurrence.ONE_TIME:
        return f"Once, on {when}, {duration}"
    every = _every(definition.recurrence, definition.interval)
    return f"{every} from {when}, {duration}{_end(definition)}"


def _end(definition) -> str:
    if definition.end_rule == EndRule.ON_DATE and definition.end_date:
        return f", until {day(definition.end_date)}"
    if definition.end_rule == EndRule.AFTER and definition.occurrence_count:
        count = definition.occurrence_count
        return ", once only" if count == 1 else f", {count} times"
    return ", with no end date"


# --- Scope ---------------------------------------------------------------------------------------


def scope_summary(definition) -> str:
    """What is reviewed, in a few words for a list: '3 groups', 'Salesforce'."""
    scope = definition.scope_type
    if scope == ScopeType.ALL_GROUPS_WITH_GUESTS:
        return "All Microsoft 365 groups with guests"
    resources, singular = {
        ScopeType.GROUP_MEMBERS: (definition.groups.all(), "group"),
        ScopeType.APPLICATION_ASSIGNEES: (definition.applications.all(), "application"),
        ScopeType.ROLE_ASSIGNEES: (definition.roles.all(), "directory role"),
    }[scope]
    resources = list(resources)
    text = _name(resources[0]) if len(resources) == 1 else plural(len(resources), singular)
    if definition.principal_scope == PrincipalScope.GUESTS_ONLY:
        text += " (guests)"
    return text


def describe_scope(definition) -> list[Line]:
    """What is reviewed and whose access, one line per setting."""
    lines = [Line("What", _what(definition))]
    if definition.scope_type == ScopeType.ALL_GROUPS_WITH_GUESTS:
        excluded = list(definition.excluded_groups.all())
        lines.append(Line("Excluded groups", names(excluded) if excluded else "None"))
    if definition.scope_type == ScopeType.ROLE_ASSIGNEES:
        lines.append(
            Line("Assignments", RoleAssignmentScope(definition.role_assignment_scope).label)
        )
    lines.append(Line("Whose access", _principals(definition)))
    return lines


def _what(definition) -> str:
    scope = definition.scope_type
    if scope == ScopeType.ALL_GROUPS_WITH_GUESTS:
        return (
            "Every Microsoft 365 group that has guest users, found again at each start (dynamic "
            "and role-assignable groups are left out); one review per group"
        )
    if scope == ScopeType.GROUP_MEMBERS:
        groups = list(definition.groups.all())
        return f"Members of {plural(len(groups), 'group')}: {names(groups)}; one review per group"
    if scope == ScopeType.APPLICATION_ASSIGNEES:
        apps = list(definition.applications.all())
        return f"Users assigned to {plural(len(apps), 'application')}: {names(apps)}"
    roles = list(definition.roles.all())
    return f"Assignees of {plural(len(roles), 'directory role')}: {names(roles)}"


def _principals(definition) -> str:
    who = (
        "Guest users only"
        if definition.principal_scope == PrincipalScope.GUESTS_ONLY
        else "Everyone (members and guests)"
    )
    if definition.inactive_days:
        days = plural(definition.inactive_days, "day")
        who += f", only those inactive for {days} (no sign-in, and not created, in that time)"
    return who


# --- Stages --------------------------------------------------------------------------------------


def describe_reviewers(stage) -> str:
    """'Group owners', or the selected people and groups by name."""
    if stage.reviewer_type != ReviewerType.SELECTED:
        return ReviewerType(stage.reviewer_type).label
    chosen = [*stage.reviewer_users.all(), *stage.reviewer_groups.all()]
    return names(chosen) if chosen else "Selected users or groups (none left)"


def reviewers_summary(definition) -> str:
    """Stage 1's reviewers, and how many stages follow: 'Group owners, +1 stage'."""
    stages = list(definition.stages.all())
    if not stages:
        return "—"
    text = ReviewerType(stages[0].reviewer_type).label
    if len(stages) > 1:
        text += f", +{plural(len(stages) - 1, 'stage')}"
    return text


def describe_stage(stage, *, is_last: bool) -> list[Line]:
    """One stage: reviewers, fallbacks, duration, recommendations, what moves on."""
    fallbacks = [*stage.fallback_users.all(), *stage.fallback_groups.all()]
    lines = [
        Line("Reviewers", describe_reviewers(stage)),
        Line("Fallback reviewers", names(fallbacks) if fallbacks else "None"),
        Line("Duration", plural(stage.duration_days, "day")),
        Line(
            "Recommendations",
            "Shown to reviewers" if stage.recommendations_enabled else "Not shown",
        ),
    ]
    if stage.ordinal > 1:
        lines.append(
            Line(
                "Earlier decisions",
                "Shown to this stage's reviewers"
                if stage.show_earlier_decisions
                else "Hidden from this stage's reviewers",
            )
        )
    if not is_last:
        lines.append(Line("Goes on to the next stage", _moving_on(stage.decisions_that_move_on)))
    return lines


def _moving_on(decisions) -> str:
    if set(decisions) >= set(MOVE_ON_ALL):
        return "Every item, whatever its decision"
    labels = [MOVE_ON_LABELS[value] for value in MOVE_ON_ALL if value in decisions]
    return f"Items {names(labels, limit=len(labels)).lower()}" if labels else "Nothing"


# --- Settings ------------------------------------------------------------------------------------


def describe_settings(definition) -> list[Line]:
    """Notifications, reminders, justification, recommendations, results and their apply."""
    lines = [
        Line("Email notifications", "On" if definition.mail_notifications_enabled else "Off"),
        Line("Reminders", _reminders(definition)),
        Line(
            "Justification",
            "Required for every Approve, Deny and Don't know"
            if definition.justification_required
            else "Optional",
        ),
        Line(
            "Recommendations look back",
            plural(definition.recommendation_look_back_days, "day"),
        ),
        Line("If reviewers don't respond", DefaultDecision(definition.default_decision).label),
        Line("Applying results", _apply(definition)),
    ]
    if definition.principal_scope == PrincipalScope.GUESTS_ONLY:
        lines.append(Line("Denied guests", DeniedGuestAction(definition.denied_guest_action).label))
    lines.append(
        Line(
            "People whose access is removed",
            "Are told by email" if definition.notify_removed_people else "Are not told",
        )
    )
    recipients = list(definition.additional_recipients.all())
    lines.append(Line("Also told when it completes", names(recipients) if recipients else "No one"))
    return lines


def _reminders(definition) -> str:
    if not definition.reminders_enabled:
        return "Off"
    if not definition.mail_notifications_enabled:
        return "Off (email notifications are off)"
    days = sorted(definition.reminder_days_before_end, reverse=True)
    if not days:
        return "One at each stage's midpoint, to reviewers with decisions still to make"
    when = names([plural(d, "day") for d in days], limit=len(days))
    return f"{when} before each stage ends, to reviewers with decisions still to make"


def _apply(definition) -> str:
    if not definition.auto_apply:
        return "By an administrator, after the review ends"
    share = definition.auto_apply_max_removal_percent
    return (
        "Automatically when the review ends; if it would remove more than "
        f"{share}% of a resource's people (and at least {GUARD_MINIMUM_REMOVALS}), it waits "
        "for an administrator's confirmation"
    )


# --- The reviews list ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListRow:
    definition: object
    what: str
    reviewers: str
    recurrence: str


def list_row(definition) -> ListRow:
    """One row of the reviews list, in words."""
    return ListRow(
        definition,
        scope_summary(definition),
        reviewers_summary(definition),
        describe_recurrence(definition.recurrence, definition.interval),
    )
