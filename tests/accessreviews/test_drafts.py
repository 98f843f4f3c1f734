"""Every rule a definition must satisfy, each refused with a message on its field."""

import datetime as dt

import pytest

from accessreviews.choices import DeniedGuestAction, PrincipalScope, ReviewerType, ScopeType
from accessreviews.drafts import DefinitionDraft, StageDraft, check_draft
from accessreviews.schedule import EndRule, Recurrence


def draft(**changes):
    values = dict(
        name="Quarterly Falcon review",
        group_ids=[1],
        start_date=dt.date(2026, 12, 1),
        time_zone="Europe/Paris",
    )
    values.update(changes)
    return DefinitionDraft(**values)


def errors_of(d, **kw):
    return dict(check_draft(d, **kw))


def test_a_complete_draft_has_no_errors():
    assert errors_of(draft()) == {}


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"name": "  "}, "name", "name"),
        ({"description_for_reviewers": "x" * 257}, "description_for_reviewers", "256"),
        ({"group_ids": []}, "group_ids", "at least one group"),
        (
            {
                "scope_type": ScopeType.APPLICATION_ASSIGNEES,
                "stages": [StageDraft(reviewer_type=ReviewerType.SELF)],
            },
            "application_ids",
            "application",
        ),
        (
            {
                "scope_type": ScopeType.ROLE_ASSIGNEES,
                "stages": [StageDraft(reviewer_type=ReviewerType.SELF)],
            },
            "role_ids",
            "role",
        ),
        ({"scope_type": ScopeType.ALL_GROUPS_WITH_GUESTS}, "principal_scope", "guests only"),
        ({"inactive_days": 731}, "inactive_days", "730"),
        ({"inactive_days": 0}, "inactive_days", "730"),
        ({"stages": []}, "stages", "1 to 3"),
        ({"stages": [StageDraft()] * 4}, "stages", "1 to 3"),
        (
            {"recurrence": Recurrence.MONTHLY, "stages": [StageDraft(duration_days=28)]},
            "stages.1.duration_days",
            "at most 27",
        ),
        (
            {
                "recurrence": Recurrence.WEEKLY,
                "stages": [StageDraft(duration_days=4), StageDraft(duration_days=3)],
            },
            "stages",
            "at most 6 days in all",
        ),
        (
            {
                "recurrence": Recurrence.MONTHLY,
                "end_rule": EndRule.ON_DATE,
                "end_date": dt.date(2026, 11, 1),
            },
            "end_date",
            "before it starts",
        ),
        ({"recurrence": Recurrence.MONTHLY, "end_rule": EndRule.ON_DATE}, "end_date", "date"),
        (
            {"recurrence": Recurrence.MONTHLY, "end_rule": EndRule.AFTER, "occurrence_count": 0},
            "occurrence_count",
            "At least 1",
        ),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "IANA"),
        ({"start_date": None}, "start_date", "start date"),
        (
            {"denied_guest_action": DeniedGuestAction.DISABLE_AND_DELETE},
            "denied_guest_action",
            "guests-only",
        ),
        ({"recommendation_look_back_days": 0}, "recommendation_look_back_days", "Between"),
        ({"auto_apply_max_removal_percent": 101}, "auto_apply_max_removal_percent", "100"),
        ({"reminder_days_before_end": [20]}, "reminder_days_before_end", "inside the stage"),
        (
            {"stages": [StageDraft(reviewer_type=ReviewerType.SELECTED)]},
            "stages.1.reviewer_user_ids",
            "at least one reviewer",
        ),
        (
            {"stages": [StageDraft(reviewer_type=ReviewerType.APPLICATION_OWNERS)]},
            "stages.1.reviewer_type",
            "applications only",
        ),
        ({"stages": [StageDraft(reviewer_type="everyone")]}, "stages.1.reviewer_type", "who"),
        (
            {"stages": [StageDraft(decisions_that_move_on=[]), StageDraft()]},
            "stages.1.decisions_that_move_on",
            "next stage",
        ),
        (
            {"stages": [StageDraft(decisions_that_move_on=["Maybe"]), StageDraft()]},
            "stages.1.decisions_that_move_on",
            "Unknown",
        ),
        ({"scope_type": "printers"}, "scope_type", "what to review"),
    ],
)
def test_each_invalid_combination_is_refused_on_its_field(changes, field, words):
    errors = errors_of(draft(**changes))
    assert field in errors, errors
    assert any(words.lower() in message.lower() for message in errors[field]), errors[field]


def test_an_application_without_assignment_required_cannot_be_reviewed():
    d = draft(
        scope_type=ScopeType.APPLICATION_ASSIGNEES,
        application_ids=[3],
        stages=[StageDraft(reviewer_type=ReviewerType.APPLICATION_OWNERS)],
    )
    errors = errors_of(d, application_names_without_assignment=["Intranet"])
    assert "Intranet does not require assignment" in errors["application_ids"][0]


def test_the_application_look_back_is_at_most_30_days():
    d = draft(
        scope_type=ScopeType.APPLICATION_ASSIGNEES,
        application_ids=[3],
        recommendation_look_back_days=31,
        stages=[StageDraft(reviewer_type=ReviewerType.APPLICATION_OWNERS)],
    )
    assert "Between 1 and 30" in errors_of(d)["recommendation_look_back_days"][0]


def test_guests_only_reviews_may_block_and_delete_denied_guests():
    d = draft(
        principal_scope=PrincipalScope.GUESTS_ONLY,
        denied_guest_action=DeniedGuestAction.DISABLE_AND_DELETE,
    )
    assert errors_of(d) == {}


def test_a_one_time_review_may_run_long_but_not_forever():
    assert errors_of(draft(stages=[StageDraft(duration_days=90)])) == {}
    assert "stages.1.duration_days" in errors_of(draft(stages=[StageDraft(duration_days=731)]))


def test_three_stages_within_a_quarter_are_fine():
    stages = [
        StageDraft(duration_days=30),
        StageDraft(duration_days=30),
        StageDraft(reviewer_type=ReviewerType.MANAGERS, duration_days=28),
    ]
    assert errors_of(draft(recurrence=Recurrence.QUARTERLY, stages=stages)) == {}


TODAY = dt.date(2026, 11, 27)


def test_a_new_series_cannot_start_in_the_past():
    errors = errors_of(draft(start_date=dt.date(2026, 11, 26)), today=TODAY)
    assert errors["start_date"] == ["The review cannot start in the past."]


def test_a_start_far_in_the_future_is_refused_not_a_crash():
    errors = errors_of(
        draft(start_date=dt.date(9999, 12, 1), recurrence=Recurrence.MONTHLY), today=TODAY
    )
    assert "Start within the next 5 years." in errors["start_date"]


def test_an_edit_may_keep_a_start_date_that_has_passed():
    past = dt.date(2026, 1, 1)
    assert errors_of(draft(start_date=past), today=TODAY, original_start_date=past) == {}


def test_a_one_time_review_over_its_limit_is_told_so_in_its_own_words():
    message = errors_of(draft(stages=[StageDraft(duration_days=731)]))["stages.1.duration_days"]
    assert message == ["A one-time review runs at most 730 days in all, not 731."]
