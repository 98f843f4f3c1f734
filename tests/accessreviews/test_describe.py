"""A definition's settings in plain words (the series page, and later the wizard's summary)."""

import datetime as dt

import pytest

from accessreviews import describe
from accessreviews.choices import (
    DefaultDecision,
    DeniedGuestAction,
    PrincipalScope,
    ReviewerType,
    RoleAssignmentScope,
    ScopeType,
)
from accessreviews.drafts import StageDraft
from accessreviews.schedule import EndRule, Recurrence
from accessreviews.services import definitions as svc
from directory.models import BuiltinRole
from tests.accessreviews.factories import group_review_draft
from tests.factories import ApplicationFactory, GroupFactory, UserFactory, builtin_role


def text(lines):
    return {line.label: line.text for line in lines}


# --- Schedule (pure: a draft has the same attributes as a definition) ---------------------------


@pytest.mark.parametrize(
    "changes, expected",
    [
        (
            {},
            "Every month from Tue 1 Dec 2026 at 09:00 (Europe/Paris), for 14 days, "
            "with no end date",
        ),
        (
            {"recurrence": Recurrence.ONE_TIME},
            "Once, on Tue 1 Dec 2026 at 09:00 (Europe/Paris), for 14 days",
        ),
        ({"recurrence": Recurrence.WEEKLY, "stages": [StageDraft(duration_days=1)]}, "Every week"),
        (
            {
                "recurrence": Recurrence.WEEKLY,
                "interval": 2,
                "stages": [StageDraft(duration_days=1)],
            },
            "Every 2 weeks",
        ),
        ({"interval": 2}, "Every 2 months"),
        ({"recurrence": Recurrence.QUARTERLY}, "Every quarter"),
        ({"recurrence": Recurrence.QUARTERLY, "interval": 2}, "Every 2 quarters"),
        ({"recurrence": Recurrence.SEMI_ANNUALLY}, "Every six months"),
        ({"recurrence": Recurrence.SEMI_ANNUALLY, "interval": 3}, "Every 18 months"),
        ({"recurrence": Recurrence.ANNUALLY}, "Every year"),
        ({"recurrence": Recurrence.ANNUALLY, "interval": 2}, "Every 2 years"),
    ],
)
def test_each_recurrence_and_interval_reads_as_a_sentence(changes, expected):
    sentence = describe.describe_schedule(group_review_draft([], **changes))

    assert sentence.startswith(expected)


@pytest.mark.parametrize(
    "changes, ending",
    [
        ({}, ", with no end date"),
        (
            {"end_rule": EndRule.ON_DATE, "end_date": dt.date(2027, 6, 30)},
            ", until Wed 30 Jun 2027",
        ),
        ({"end_rule": EndRule.AFTER, "occurrence_count": 6}, ", 6 times"),
        ({"end_rule": EndRule.AFTER, "occurrence_count": 1}, ", once only"),
    ],
)
def test_each_end_rule_reads_at_the_end_of_the_schedule(changes, ending):
    assert describe.describe_schedule(group_review_draft([], **changes)).endswith(ending)


def test_the_duration_is_the_sum_of_the_stages_and_singular_for_one_day():
    one_day = group_review_draft(
        [], recurrence=Recurrence.ONE_TIME, stages=[StageDraft(duration_days=1)]
    )
    two_stages = group_review_draft(
        [], stages=[StageDraft(duration_days=7), StageDraft(ReviewerType.MANAGERS, 5)]
    )

    assert describe.describe_schedule(one_day).endswith("for 1 day")
    assert "for 12 days" in describe.describe_schedule(two_stages)


@pytest.mark.parametrize(
    "recurrence, interval, expected",
    [
        (Recurrence.ONE_TIME, 1, "One time"),
        (Recurrence.MONTHLY, 1, "Monthly"),
        (Recurrence.SEMI_ANNUALLY, 1, "Semi-annually"),
        (Recurrence.WEEKLY, 3, "Every 3 weeks"),
    ],
)
def test_the_lists_recurrence_is_short(recurrence, interval, expected):
    assert describe.describe_recurrence(recurrence, interval) == expected


def test_names_are_joined_and_cut_after_five():
    assert describe.names(["A"]) == "A"
    assert describe.names(["A", "B"]) == "A and B"
    assert describe.names(["A", "B", "C"]) == "A, B and C"
    assert describe.names(list("ABCDEFG")) == "A, B, C, D, E and 2 more"


def test_the_viewers_zone_is_their_own_else_the_portals(settings):
    settings.TIME_ZONE = "Europe/London"

    assert describe.viewer_zone(UserFactory.build(time_zone="Asia/Tokyo")) == "Asia/Tokyo"
    assert describe.viewer_zone(UserFactory.build(time_zone="")) == "Europe/London"


# --- Scope ---------------------------------------------------------------------------------------


@pytest.fixture
def create(admin_user):
    def create(groups=(), **changes):
        return svc.definition_create(admin_user, group_review_draft(list(groups), **changes))

    return create


@pytest.mark.django_db
def test_a_group_review_names_its_groups(create):
    definition = create([GroupFactory(name="Falcon"), GroupFactory(name="Eagle")])

    assert describe.scope_summary(definition) == "2 groups"
    assert text(describe.describe_scope(definition)) == {
        "What": "Members of 2 groups: Eagle and Falcon; one review per group",
        "Whose access": "Everyone (members and guests)",
    }


@pytest.mark.django_db
def test_one_group_of_guests_inactive_for_90_days(create):
    definition = create(
        [GroupFactory(name="Falcon")], principal_scope=PrincipalScope.GUESTS_ONLY, inactive_days=90
    )

    assert describe.scope_summary(definition) == "Falcon (guests)"
    assert text(describe.describe_scope(definition))["Whose access"] == (
        "Guest users only, only those inactive for 90 days (no sign-in, and not created, in "
        "that time)"
    )


@pytest.mark.django_db
def test_all_groups_with_guests_names_the_excluded_groups(create):
    definition = create(
        scope_type=ScopeType.ALL_GROUPS_WITH_GUESTS,
        principal_scope=PrincipalScope.GUESTS_ONLY,
        excluded_group_ids=[GroupFactory(name="Board").pk],
    )

    lines = text(describe.describe_scope(definition))
    assert describe.scope_summary(definition) == "All Microsoft 365 groups with guests"
    assert lines["What"].startswith("Every Microsoft 365 group that has guest users")
    assert lines["Excluded groups"] == "Board"


@pytest.mark.django_db
def test_an_application_review_names_the_application(create):
    app = ApplicationFactory(name="Salesforce", assignment_required=True)
    definition = create(
        scope_type=ScopeType.APPLICATION_ASSIGNEES,
        application_ids=[app.pk],
        stages=[StageDraft(ReviewerType.APPLICATION_OWNERS)],
    )

    assert describe.scope_summary(definition) == "Salesforce"
    assert text(describe.describe_scope(definition))["What"] == (
        "Users assigned to 1 application: Salesforce"
    )


@pytest.mark.django_db
def test_a_role_review_says_which_assignments(create):
    definition = create(
        scope_type=ScopeType.ROLE_ASSIGNEES,
        role_ids=[builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR).pk],
        role_assignment_scope=RoleAssignmentScope.ELIGIBLE,
        stages=[StageDraft(ReviewerType.MANAGERS)],
    )

    lines = text(describe.describe_scope(definition))
    assert lines["What"] == "Assignees of 1 directory role: Global Administrator"
    assert lines["Assignments"] == "Eligible assignments"


# --- Stages --------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "reviewer_type, expected",
    [
        (ReviewerType.GROUP_OWNERS, "Group owners"),
        (ReviewerType.MANAGERS, "Managers of the users"),
        (ReviewerType.SELF, "The users themselves"),
    ],
)
def test_each_reviewer_type_reads_as_who(create, owned_group, reviewer_type, expected):
    definition = create([owned_group], stages=[StageDraft(reviewer_type)])

    (stage,) = definition.stages.all()
    assert describe.describe_reviewers(stage) == expected


@pytest.mark.django_db
def test_application_owners_read_as_who(create):
    app = ApplicationFactory(assignment_required=True)
    definition = create(
        scope_type=ScopeType.APPLICATION_ASSIGNEES,
        application_ids=[app.pk],
        stages=[StageDraft(ReviewerType.APPLICATION_OWNERS)],
    )

    assert describe.describe_reviewers(definition.stages.get()) == "Application owners"


@pytest.mark.django_db
def test_selected_reviewers_and_fallbacks_are_named(create, owned_group):
    ann = UserFactory(display_name="Ann Auditor")
    team = GroupFactory(name="Audit team")
    ben = UserFactory(display_name="Ben Backup")
    stage_draft = StageDraft(
        ReviewerType.SELECTED,
        duration_days=1,
        reviewer_user_ids=[ann.pk],
        reviewer_group_ids=[team.pk],
        fallback_user_ids=[ben.pk],
        recommendations_enabled=False,
    )
    definition = create([owned_group], stages=[stage_draft])

    assert text(describe.describe_stage(definition.stages.get(), is_last=True)) == {
        "Reviewers": "Ann Auditor and Audit team",
        "Fallback reviewers": "Ben Backup",
        "Duration": "1 day",
        "Recommendations": "Not shown",
    }


@pytest.mark.django_db
def test_a_two_stage_review_says_what_moves_on_and_what_later_reviewers_see(create, owned_group):
    definition = create(
        [owned_group],
        stages=[
            StageDraft(duration_days=7, decisions_that_move_on=["Approve", "DontKnow"]),
            StageDraft(ReviewerType.MANAGERS, 7, show_earlier_decisions=False),
        ],
    )
    first, second = definition.stages.all()

    first_lines = text(describe.describe_stage(first, is_last=False))
    second_lines = text(describe.describe_stage(second, is_last=True))
    assert first_lines["Goes on to the next stage"] == "Items approved and don't know"
    assert "Earlier decisions" not in first_lines
    assert second_lines["Earlier decisions"] == "Hidden from this stage's reviewers"
    assert "Goes on to the next stage" not in second_lines
    assert describe.reviewers_summary(definition) == "Group owners, +1 stage"


@pytest.mark.django_db
def test_every_decision_moving_on_reads_as_every_item(create, owned_group):
    definition = create(
        [owned_group], stages=[StageDraft(duration_days=7), StageDraft(ReviewerType.SELF, 7)]
    )

    lines = text(describe.describe_stage(definition.stages.first(), is_last=False))
    assert lines["Goes on to the next stage"] == "Every item, whatever its decision"


# --- Settings ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_default_settings_read_plainly(create, owned_group):
    lines = text(describe.describe_settings(create([owned_group])))

    assert lines == {
        "Email notifications": "On",
        "Reminders": "One at each stage's midpoint, to reviewers with decisions still to make",
        "Justification": "Optional",
        "Recommendations look back": "30 days",
        "If reviewers don't respond": "No change",
        "Applying results": "By an administrator, after the review ends",
        "People whose access is removed": "Are not told",
        "Also told when it completes": "No one",
    }


@pytest.mark.django_db
def test_every_setting_changed_reads_plainly(create, owned_group):
    carol = UserFactory(display_name="Carol Compliance")
    definition = create(
        [owned_group],
        principal_scope=PrincipalScope.GUESTS_ONLY,
        reminder_days_before_end=[1, 3],
        justification_required=True,
        recommendation_look_back_days=60,
        default_decision=DefaultDecision.RECOMMENDATION,
        auto_apply=True,
        auto_apply_max_removal_percent=20,
        denied_guest_action=DeniedGuestAction.DISABLE_AND_DELETE,
        notify_removed_people=True,
        additional_recipient_ids=[carol.pk],
    )

    lines = text(describe.describe_settings(definition))

    assert lines["Reminders"] == (
        "3 days and 1 day before each stage ends, to reviewers with decisions still to make"
    )
    assert lines["Justification"] == "Required for every Approve, Deny and Don't know"
    assert lines["Recommendations look back"] == "60 days"
    assert lines["If reviewers don't respond"] == "Take recommendations"
    assert lines["Applying results"] == (
        "Automatically when the review ends; if it would remove more than 20% of a resource's "
        "people (and at least 5), it waits for an administrator's confirmation"
    )
    assert lines["Denied guests"] == "Block sign-in now, delete the account after 30 days"
    assert lines["People whose access is removed"] == "Are told by email"
    assert lines["Also told when it completes"] == "Carol Compliance"


@pytest.mark.django_db
def test_reminders_are_off_when_emails_are(create, owned_group):
    quiet = create([owned_group], mail_notifications_enabled=False)
    no_reminders = create([owned_group], reminders_enabled=False)

    assert text(describe.describe_settings(quiet))["Reminders"] == (
        "Off (email notifications are off)"
    )
    assert text(describe.describe_settings(no_reminders))["Reminders"] == "Off"
