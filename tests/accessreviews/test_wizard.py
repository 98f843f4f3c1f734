"""The create-review wizard and the edit page: steps, validation, permissions, tampering."""

import re

import pytest
import time_machine
from django.urls import reverse

from accessreviews.choices import ReviewerType, ScopeType
from accessreviews.models import ReviewDefinition
from directory.models import AuditEvent, BuiltinRole
from tests.factories import (
    ApplicationFactory,
    AppRoleFactory,
    GroupFactory,
    GuestFactory,
    UserFactory,
    add_members,
    add_owners,
    assign_app,
    builtin_role,
)

pytestmark = pytest.mark.django_db

URL = reverse("accessreviews:definition-create")


def text(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


class Wizard:
    """Drives the wizard through the test client like a person would."""

    def __init__(self, client):
        self.client = client
        response = client.get(URL)
        assert response.status_code == 200
        self.id = re.search(rb"\?w=([\w-]+)&amp;step=scope", response.content).group(1).decode()

    def url(self, step):
        return f"{URL}?w={self.id}&step={step}"

    def post(self, step, data, action="next"):
        return self.client.post(self.url(step), {**data, "action": action})

    def get(self, step):
        return self.client.get(self.url(step))

    def step_ok(self, step, data, next_step):
        response = self.post(step, data)
        assert response.status_code == 302, text(response)[:3000]
        assert response["Location"] == self.url(next_step)
        return response


def scope_data(**changes):
    data = {
        "name": "Falcon members",
        "description_for_admins": "",
        "description_for_reviewers": "Check who still needs Falcon.",
        "scope_type": ScopeType.GROUP_MEMBERS,
        "principal_scope": "everyone",
        "role_assignment_scope": "both",
    }
    data.update(changes)
    return data


def stage_data(n=1, **changes):
    data = {
        "stage_count": str(n),
        "s1-reviewer_type": ReviewerType.GROUP_OWNERS,
        "s1-duration_days": "14",
        "s1-recommendations_enabled": "on",
    }
    data.update(changes)
    return data


def schedule_data(**changes):
    data = {
        "start_date": "2026-12-01",
        "start_time": "09:00",
        "time_zone": "Europe/Paris",
        "recurrence": "monthly",
        "interval": "1",
        "end_rule": "noEnd",
    }
    data.update(changes)
    return data


def settings_data(**changes):
    data = {
        "mail_notifications_enabled": "on",
        "reminders_enabled": "on",
        "reminder_mode": "midpoint",
        "recommendation_look_back_days": "30",
        "default_decision": "None",
        "auto_apply_max_removal_percent": "50",
    }
    data.update(changes)
    return data


def walk(client, scope, stages, schedule=None, settings=None, create=None):
    wizard = Wizard(client)
    wizard.step_ok("scope", scope, "reviewers")
    wizard.step_ok("reviewers", stages, "schedule")
    wizard.step_ok("schedule", schedule or schedule_data(), "settings")
    wizard.step_ok("settings", settings or settings_data(), "review")
    review = wizard.get("review")
    assert review.status_code == 200
    created = wizard.post("review", create or {}, action="create")
    return wizard, review, created


def test_admin_creates_a_monthly_review_of_a_group_by_its_owners(signed_in, admin_user):
    falcon = GroupFactory(name="Project Falcon")
    owner = UserFactory(display_name="Owen Owner")
    add_owners(falcon, owner)
    add_members(falcon, UserFactory(), UserFactory())

    wizard, review, created = walk(
        signed_in(admin_user), scope_data(group_ids=[falcon.pk]), stage_data()
    )

    assert (
        "Every month from Tue 1 Dec 2026, 09:00 Europe/Paris, the owners of Project Falcon "
        "review its members for 14 days" in text(review)
    )
    definition = ReviewDefinition.objects.get()
    assert created.status_code == 302
    assert created["Location"] == reverse("accessreviews:definition-detail", args=[definition.uuid])
    assert list(definition.groups.all()) == [falcon]
    assert definition.description_for_reviewers == "Check who still needs Falcon."
    assert [s.reviewer_type for s in definition.stages.all()] == [ReviewerType.GROUP_OWNERS]
    assert definition.time_zone == "Europe/Paris" and definition.recurrence == "monthly"


# --- Happy paths: each scope type and reviewer type ---------------------------------------------


def test_all_groups_with_guests_reviews_guests_only_and_keeps_the_excluded_groups(
    signed_in, admin_user
):
    skip = GroupFactory(name="Board")
    wizard, review, created = walk(
        signed_in(admin_user),
        scope_data(scope_type=ScopeType.ALL_GROUPS_WITH_GUESTS, excluded_group_ids=[skip.pk]),
        stage_data(**{"s1-fallback_user_ids": [admin_user.pk]}),
    )

    assert created.status_code == 302
    definition = ReviewDefinition.objects.get()
    assert definition.principal_scope == "guestsOnly"
    assert list(definition.excluded_groups.all()) == [skip]


def test_an_application_review_by_its_owners(signed_in, admin_user):
    payroll = ApplicationFactory(name="Payroll")
    assign_app(AppRoleFactory(application=payroll), user=UserFactory())

    _, review, created = walk(
        signed_in(admin_user),
        scope_data(scope_type=ScopeType.APPLICATION_ASSIGNEES, application_ids=[payroll.pk]),
        stage_data(
            **{
                "s1-reviewer_type": ReviewerType.APPLICATION_OWNERS,
                "s1-fallback_user_ids": [admin_user.pk],
            }
        ),
    )

    assert created.status_code == 302
    definition = ReviewDefinition.objects.get()
    assert list(definition.applications.all()) == [payroll]
    assert definition.stages.get().reviewer_type == ReviewerType.APPLICATION_OWNERS


def test_a_role_review_by_selected_reviewers_of_eligible_assignments(signed_in, admin_user):
    role = builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR)
    rob = UserFactory(display_name="Rob Reviewer")

    _, review, created = walk(
        signed_in(admin_user),
        scope_data(
            scope_type=ScopeType.ROLE_ASSIGNEES,
            role_ids=[role.pk],
            role_assignment_scope="eligible",
        ),
        stage_data(**{"s1-reviewer_type": ReviewerType.SELECTED, "s1-reviewer_user_ids": [rob.pk]}),
    )

    assert "Rob Reviewer review the assignees of Global Administrator" in text(review)
    definition = ReviewDefinition.objects.get()
    assert definition.role_assignment_scope == "eligible"
    assert list(definition.stages.get().reviewer_users.all()) == [rob]


def test_a_three_stage_review_by_managers_then_the_people_then_selected_groups(
    signed_in, admin_user
):
    falcon = GroupFactory(name="Project Falcon")
    auditors = GroupFactory(name="Auditors")
    stages = {
        "stage_count": "3",
        "s1-reviewer_type": ReviewerType.MANAGERS,
        "s1-duration_days": "5",
        "s1-decisions_that_move_on": ["Approve", "DontKnow"],
        "s2-reviewer_type": ReviewerType.SELF,
        "s2-duration_days": "5",
        "s2-decisions_that_move_on": ["Approve"],
        "s2-show_earlier_decisions": "on",
        "s3-reviewer_type": ReviewerType.SELECTED,
        "s3-reviewer_group_ids": [auditors.pk],
        "s3-duration_days": "4",
    }

    _, review, created = walk(signed_in(admin_user), scope_data(group_ids=[falcon.pk]), stages)

    assert (
        "their managers review the members of Project Falcon for 5 days, then the people "
        "themselves for 5 days, then Auditors for 4 days" in text(review)
    )
    stages = list(ReviewDefinition.objects.get().stages.all())
    assert [s.reviewer_type for s in stages] == ["managers", "self", "selected"]
    assert stages[0].decisions_that_move_on == ["Approve", "DontKnow"]
    assert stages[1].show_earlier_decisions is True and stages[1].decisions_that_move_on == [
        "Approve"
    ]
    assert list(stages[2].reviewer_groups.all()) == [auditors]


def test_the_settings_step_saves_reminders_days_and_recipients(signed_in, admin_user):
    falcon = GroupFactory(name="Project Falcon")
    add_owners(falcon, UserFactory())
    rita = UserFactory(display_name="Rita Recipient")

    walk(
        signed_in(admin_user),
        scope_data(group_ids=[falcon.pk]),
        stage_data(),
        settings=settings_data(
            reminder_mode="daysBeforeEnd",
            reminder_days_before_end="3, 7",
            justification_required="on",
            auto_apply="on",
            auto_apply_max_removal_percent="20",
            additional_recipient_ids=[rita.pk],
        ),
    )

    definition = ReviewDefinition.objects.get()
    assert definition.reminder_days_before_end == [7, 3]
    assert definition.justification_required and definition.auto_apply
    assert definition.auto_apply_max_removal_percent == 20
    assert list(definition.additional_recipients.all()) == [rita]


def test_the_time_zone_defaults_to_the_creators_own(signed_in, admin_user):
    admin_user.time_zone = "America/New_York"
    admin_user.save()
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(), "schedule")

    page = wizard.get("schedule").content.decode()

    assert '<option value="America/New_York" selected>' in page


def test_the_start_date_defaults_to_tomorrow_in_the_chosen_zone(signed_in, admin_user):
    admin_user.time_zone = "Pacific/Auckland"
    admin_user.save()
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(), "schedule")

    # 23:30 UTC on 10 March is already 11 March in Auckland.
    with time_machine.travel("2026-03-10 23:30:00+00:00", tick=False):
        page = wizard.get("schedule").content.decode()

    assert 'name="start_date" value="2026-03-12"' in page


def test_review_name_and_start_date_are_marked_required(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    scope_page = wizard.get("scope").content.decode()
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(), "schedule")
    schedule_page = wizard.get("schedule").content.decode()

    for page, field in ((scope_page, "id_name"), (schedule_page, "id_start_date")):
        assert re.search(rf'id="div_{field}" class="[^"]*\bis-required\b', page)
        assert re.search(rf'<input[^>]*aria-required="true"[^>]*id="{field}"', page)


def test_the_interval_is_hidden_for_a_one_time_review(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(), "schedule")

    page = wizard.get("schedule").content.decode()

    # portal.css hides .when-repeating while Repeat is One time (the journey test checks it).
    assert re.search(r'class="[^"]*when-repeating[^"]*"\s*>\s*<div id="div_id_interval"', page)


def test_only_canonical_zones_are_offered_but_an_alias_is_accepted(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(), "schedule")

    offered = wizard.get("schedule").content.decode()
    wizard.step_ok("schedule", schedule_data(time_zone="US/Eastern"), "settings")
    again = wizard.get("schedule").content.decode()

    for alias in ("Africa/Asmera", "America/Buenos_Aires", "US/Eastern", "Etc/GMT+5"):
        assert f'value="{alias}"' not in offered
    for name in ("UTC", "Africa/Asmara", "America/Argentina/Buenos_Aires", "America/New_York"):
        assert f'value="{name}"' in offered
    assert '<option value="US/Eastern" selected>' in again


def test_the_calendars_phone_labels_name_their_zones(signed_in, admin_user):
    admin_user.time_zone = "America/New_York"
    admin_user.save()
    falcon = GroupFactory()
    add_owners(falcon, UserFactory())
    wizard, review, _ = walk(
        signed_in(admin_user), scope_data(group_ids=[falcon.pk]), stage_data(), create={}
    )
    page = review.content.decode()

    for label in ("Starts (Europe/Paris)", "Ends (Europe/Paris)"):
        assert f'data-label="{label}"' in page
    for label in ("Your start (America/New_York)", "Your end (America/New_York)"):
        assert f'data-label="{label}"' in page


def test_an_unknown_zone_is_refused(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(), "schedule")

    response = wizard.post("schedule", schedule_data(time_zone="Mars/Olympus"))

    assert "Select a valid choice" in errors_of(response, "id_time_zone")


# --- Validation: each message on its field ------------------------------------------------------


def errors_of(response, field_id):
    """The error messages shown inside the field's block."""
    html = response.content.decode()
    start = html.index(f'id="div_{field_id}"')
    end = html.find('id="div_', start + 10)
    block = html[start : end if end > 0 else None]
    found = re.findall(r'class="invalid-feedback[^"]*">(.*?)</div>', block, flags=re.S)
    return " ".join(" ".join(re.sub(r"<[^>]+>", " ", f).split()) for f in found)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": " "}, "id_name", "Give the review a name."),
        ({"group_ids": []}, "id_group_ids", "Select at least one group."),
        (
            {"description_for_reviewers": "x" * 257},
            "id_description_for_reviewers",
            "At most 256 characters",
        ),
        ({"inactive_only": "on", "inactive_days": "0"}, "id_inactive_days", "Between 1 and 730"),
        ({"inactive_only": "on", "inactive_days": "731"}, "id_inactive_days", "Between 1 and 730"),
        ({"inactive_only": "on"}, "id_inactive_days", "Enter a number of days"),
        (
            {"scope_type": ScopeType.APPLICATION_ASSIGNEES},
            "id_application_ids",
            "Select at least one application.",
        ),
    ],
)
def test_the_scope_step_shows_each_error_on_its_field(
    signed_in, admin_user, changes, field, message
):
    wizard = Wizard(signed_in(admin_user))
    data = scope_data(group_ids=[GroupFactory().pk])
    data.update(changes)

    response = wizard.post("scope", data)

    assert response.status_code == 200
    assert message in errors_of(response, field)


def test_an_application_that_does_not_require_assignment_is_named_in_the_error(
    signed_in, admin_user
):
    intranet = ApplicationFactory(name="Intranet", assignment_required=False)
    wizard = Wizard(signed_in(admin_user))

    response = wizard.post(
        "scope",
        scope_data(scope_type=ScopeType.APPLICATION_ASSIGNEES, application_ids=[intranet.pk]),
    )

    assert "Intranet does not require assignment" in errors_of(response, "id_application_ids")


def test_selected_reviewers_need_someone_on_the_stage_field(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")

    response = wizard.post("reviewers", stage_data(**{"s1-reviewer_type": "selected"}))

    assert "Select at least one reviewer." in errors_of(response, "id_s1-reviewer_user_ids")


def test_the_second_stages_error_lands_on_the_second_stage(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")

    response = wizard.post(
        "reviewers",
        stage_data(
            2,
            **{
                "s1-decisions_that_move_on": ["Approve"],
                "s2-reviewer_type": "groupOwners",
                "s2-duration_days": "0",
            },
        ),
    )

    assert "At least 1 day." in errors_of(response, "id_s2-duration_days")
    assert "At least 1 day." not in errors_of(response, "id_s1-duration_days")


def test_a_stage_before_the_last_must_let_something_move_on(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")

    response = wizard.post(
        "reviewers", stage_data(2, **{"s2-reviewer_type": "self", "s2-duration_days": "3"})
    )

    assert "Choose which decisions go on" in errors_of(response, "id_s1-decisions_that_move_on")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"stage_days": "30"}, "id_recurrence", "at most 27 days in all"),
        (
            {"end_rule": "endDate", "end_date": "2026-11-01"},
            "id_end_date",
            "The series cannot end before it starts.",
        ),
        ({"end_rule": "endDate"}, "id_end_date", "Choose the date the series ends."),
        ({"end_rule": "numbered", "occurrence_count": "0"}, "id_occurrence_count", "1"),
        ({"start_date": ""}, "id_start_date", "Choose a start date."),
        ({"time_zone": "Mars/Olympus"}, "id_time_zone", "Select a valid choice"),
    ],
)
def test_the_schedule_step_shows_each_error_on_its_field(
    signed_in, admin_user, changes, field, message
):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    days = changes.pop("stage_days", "14")
    wizard.step_ok("reviewers", stage_data(**{"s1-duration_days": days}), "schedule")

    response = wizard.post("schedule", schedule_data(**changes))

    assert response.status_code == 200
    assert message in errors_of(response, field)


def test_a_stage_too_long_for_the_recurrence_shows_on_the_stage_when_going_back(
    signed_in, admin_user
):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(**{"s1-duration_days": "30"}), "schedule")
    wizard.post("schedule", schedule_data(), action="back")
    wizard.step_ok("schedule", schedule_data(recurrence="oneTime"), "settings")
    wizard.post("settings", settings_data(), action="back")
    wizard.post("schedule", schedule_data(), action="back")

    response = wizard.post("reviewers", stage_data(**{"s1-duration_days": "30"}))

    assert "at most 27 days" in errors_of(response, "id_s1-duration_days")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"reminder_mode": "daysBeforeEnd", "reminder_days_before_end": "20"},
            "id_reminder_days_before_end",
            "Each reminder must fall inside the stage",
        ),
        (
            {"reminder_mode": "daysBeforeEnd", "reminder_days_before_end": "soon"},
            "id_reminder_days_before_end",
            "Whole numbers of days",
        ),
        (
            {"recommendation_look_back_days": "0"},
            "id_recommendation_look_back_days",
            "Between 1 and 730 days.",
        ),
        (
            {"auto_apply_max_removal_percent": "150"},
            "id_auto_apply_max_removal_percent",
            "Between 1 and 100 percent.",
        ),
    ],
)
def test_the_settings_step_shows_each_error_on_its_field(
    signed_in, admin_user, changes, field, message
):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(), "schedule")
    wizard.step_ok("schedule", schedule_data(), "settings")

    response = wizard.post("settings", settings_data(**changes))

    assert message in errors_of(response, field)


def test_an_application_review_looks_back_at_most_30_days(signed_in, admin_user):
    app = ApplicationFactory()
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok(
        "scope",
        scope_data(scope_type=ScopeType.APPLICATION_ASSIGNEES, application_ids=[app.pk]),
        "reviewers",
    )
    wizard.step_ok("reviewers", stage_data(**{"s1-reviewer_type": "self"}), "schedule")
    wizard.step_ok("schedule", schedule_data(), "settings")

    response = wizard.post("settings", settings_data(recommendation_look_back_days="60"))

    assert "Between 1 and 30 days." in errors_of(response, "id_recommendation_look_back_days")


def test_guest_actions_are_offered_only_for_guest_reviews(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(**{"s1-reviewer_type": "self"}), "schedule")
    wizard.step_ok("schedule", schedule_data(), "settings")

    assert "Denied guests" not in text(wizard.get("settings"))
    wizard.step_ok(
        "settings", settings_data(denied_guest_action="disableAndDelete"), "review"
    )  # a tampered value for a field not offered is ignored
    wizard.post("review", {}, action="create")

    assert ReviewDefinition.objects.get().denied_guest_action == "removeAccess"


# --- Moving around ------------------------------------------------------------------------------


def test_back_and_forward_keep_the_values(signed_in, admin_user):
    falcon = GroupFactory(name="Project Falcon")
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[falcon.pk], name="Keep me"), "reviewers")

    back = wizard.post("reviewers", stage_data(**{"s1-duration_days": "9"}), action="back")
    scope_page = wizard.get("scope").content.decode()
    reviewers_page = wizard.get("reviewers").content.decode()

    assert back["Location"] == wizard.url("scope")
    assert 'value="Keep me"' in scope_page and "Project Falcon" in scope_page
    assert 'name="s1-duration_days" value="9"' in reviewers_page


def test_a_step_not_reached_yet_sends_you_to_the_furthest_one(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")

    response = wizard.get("review")

    assert response.status_code == 302 and response["Location"] == wizard.url("reviewers")


def test_a_step_link_saves_the_current_step_and_goes(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")

    page = wizard.get("reviewers").content.decode()
    jumped = wizard.post("reviewers", stage_data(**{"s1-duration_days": "9"}, goto="scope"))

    assert '<button type="submit" name="goto" value="scope"' in page
    assert '<input type="hidden" name="stored" value="1">' in page
    assert jumped.status_code == 302 and jumped["Location"] == wizard.url("scope")
    assert 'name="s1-duration_days" value="9"' in wizard.get("reviewers").content.decode()


def test_a_step_link_from_an_invalid_step_stays_and_shows_why(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(**{"s1-duration_days": "9"}), "schedule")

    refused = wizard.post("reviewers", stage_data(**{"s1-duration_days": "0"}, goto="scope"))

    assert refused.status_code == 200
    assert "Fix these first, or use Back to leave this step." in text(refused)
    assert 'name="s1-duration_days" value="0"' in refused.content.decode()
    assert "invalid-feedback" in refused.content.decode()
    assert 'name="s1-duration_days" value="9"' in wizard.get("reviewers").content.decode()


def test_a_step_link_to_a_step_not_reached_goes_no_further_than_reached(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))

    jumped = wizard.post("scope", scope_data(group_ids=[GroupFactory().pk], goto="review"))

    assert jumped.status_code == 302 and jumped["Location"] == wizard.url("scope")


def test_creating_the_same_draft_again_goes_to_the_series(signed_in, admin_user):
    falcon = GroupFactory()
    add_owners(falcon, UserFactory())
    client = signed_in(admin_user)
    wizard, _, created = walk(client, scope_data(group_ids=[falcon.pk]), stage_data())

    again = wizard.post("review", {}, action="create")
    shown = wizard.get("scope")

    assert ReviewDefinition.objects.count() == 1
    assert again["Location"] == created["Location"] == shown["Location"]
    assert "This review was already created." in text(client.get(again["Location"]))


def test_a_dropped_draft_says_it_expired(signed_in, admin_user):
    client = signed_in(admin_user)
    oldest = Wizard(client)
    oldest.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")
    for _ in range(5):
        Wizard(client).step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")

    shown = oldest.get("reviewers")
    posted = oldest.post("scope", {**scope_data(group_ids=[GroupFactory().pk]), "stored": "1"})

    assert shown["Location"] == posted["Location"] == URL
    assert "This draft expired; start again." in text(client.get(URL))


def test_a_new_wizard_is_not_taken_for_an_expired_one(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))

    searched = wizard.post("scope", scope_data(q_group_ids="x"), action="search")

    assert searched.status_code == 200 and "expired" not in text(searched)


def test_showing_a_step_stores_nothing(signed_in, admin_user):
    client = signed_in(admin_user)
    Wizard(client)

    assert "review_wizards" not in client.session


def test_two_wizards_in_two_tabs_keep_their_own_drafts(signed_in, admin_user):
    client = signed_in(admin_user)
    first, second = Wizard(client), Wizard(client)
    first.step_ok("scope", scope_data(group_ids=[GroupFactory().pk], name="First"), "reviewers")
    second.step_ok("scope", scope_data(group_ids=[GroupFactory().pk], name="Second"), "reviewers")

    assert 'value="First"' in first.get("scope").content.decode()
    assert 'value="Second"' in second.get("scope").content.decode()


def test_add_and_remove_stage_buttons_renumber_the_stages(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")

    added = wizard.post("reviewers", stage_data(**{"s1-duration_days": "3"}), action="add_stage")
    assert (
        "Stage 2" in text(added) and 'name="s1-duration_days" value="3"' in added.content.decode()
    )

    two = stage_data(
        2,
        **{
            "s2-reviewer_type": "self",
            "s2-duration_days": "6",
            "s1-decisions_that_move_on": ["Deny"],
        },
    )
    removed = wizard.post("reviewers", two, action="remove_stage:1")
    page = removed.content.decode()

    assert "Stage 2" not in text(removed)
    assert 'name="s1-duration_days" value="6"' in page
    assert "invalid-feedback" not in page


def test_a_search_re_renders_the_step_with_matches_and_the_typed_values(signed_in, admin_user):
    GroupFactory(name="Project Falcon")
    GroupFactory(name="Payroll")
    wizard = Wizard(signed_in(admin_user))

    response = wizard.post("scope", scope_data(name="Typed", q_group_ids="falc"), action="search")
    page = text(response)

    assert response.status_code == 200 and "Project Falcon" in page and "Payroll" not in page
    assert 'value="Typed"' in response.content.decode()
    assert "invalid-feedback" not in response.content.decode()


def test_a_search_leaves_out_what_is_already_chosen(signed_in, admin_user):
    falcon = GroupFactory(name="Project Falcon")
    GroupFactory(name="Falcon Contractors")
    wizard = Wizard(signed_in(admin_user))

    response = wizard.post(
        "scope", scope_data(group_ids=[falcon.pk], q_group_ids="falcon"), action="search"
    )
    results = response.content.decode().split('class="chooser-results"')[1]

    assert "Falcon Contractors" in results and "Project Falcon" not in results
    chosen = f'value="{falcon.pk}" id="id_group_ids_c{falcon.pk}" checked'
    assert chosen in response.content.decode()


# --- The acknowledgement gate -------------------------------------------------------------------


def test_owners_reviewing_a_group_without_owners_need_an_acknowledgement(signed_in, admin_user):
    orphan = GroupFactory(name="Orphans")
    client = signed_in(admin_user)
    wizard = Wizard(client)
    wizard.step_ok("scope", scope_data(group_ids=[orphan.pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(), "schedule")
    wizard.step_ok("schedule", schedule_data(), "settings")
    wizard.step_ok("settings", settings_data(), "review")

    refused = wizard.post("review", {}, action="create")
    assert refused.status_code == 200
    assert "Orphans has no owner" in text(refused)
    assert "Confirm you have read the warning" in text(refused)
    assert not ReviewDefinition.objects.exists()

    accepted = wizard.post("review", {"acknowledge": "on"}, action="create")
    assert accepted.status_code == 302 and ReviewDefinition.objects.count() == 1


def test_a_fallback_reviewer_lifts_the_gate(signed_in, admin_user):
    orphan = GroupFactory(name="Orphans")
    _, review, created = walk(
        signed_in(admin_user),
        scope_data(group_ids=[orphan.pk]),
        stage_data(**{"s1-fallback_user_ids": [admin_user.pk]}),
    )

    assert "has no owner, owners review" not in text(review)
    assert created.status_code == 302


# --- Tampering ----------------------------------------------------------------------------------


def test_a_group_owner_posting_another_owners_group_gets_a_field_error(
    signed_in, group_owner, owned_group
):
    theirs = GroupFactory(name="Someone else's")
    wizard = Wizard(signed_in(group_owner))

    response = wizard.post("scope", scope_data(group_ids=[owned_group.pk, theirs.pk]))

    assert response.status_code == 200
    assert "is not something you may choose here" in errors_of(response, "id_group_ids")
    assert "Someone else" not in text(response)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"scope_type": "everything"}, "id_scope_type"),
        ({"principal_scope": "robots"}, "id_principal_scope"),
        ({"group_ids": ["999999"]}, "id_group_ids"),
        ({"group_ids": ["abc"]}, "id_group_ids"),
    ],
)
def test_tampered_scope_values_are_field_errors(signed_in, admin_user, changes, field):
    wizard = Wizard(signed_in(admin_user))

    response = wizard.post("scope", scope_data(**changes))

    assert response.status_code == 200
    assert errors_of(response, field)


def test_a_tampered_reviewer_type_and_stage_count_never_500(signed_in, admin_user):
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[GroupFactory().pk]), "reviewers")

    bad_type = wizard.post("reviewers", stage_data(**{"s1-reviewer_type": "boss"}))
    owners_of_app = wizard.post(
        "reviewers", stage_data(**{"s1-reviewer_type": "applicationOwners"})
    )
    many = wizard.post("reviewers", stage_data(stage_count="99"))
    odd = wizard.post("reviewers", stage_data(), action="remove_stage:x")

    assert errors_of(bad_type, "id_s1-reviewer_type")
    assert errors_of(owners_of_app, "id_s1-reviewer_type")
    assert many.status_code == 200 and "Stage 3" in text(many) and "Stage 4" not in text(many)
    assert odd.status_code == 200
    assert not ReviewDefinition.objects.exists()


# --- Who may use it -----------------------------------------------------------------------------


def test_anonymous_people_are_sent_to_sign_in(client):
    response = client.get(URL)

    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.parametrize("persona", ["reader", "outsider"])
def test_people_who_cannot_create_reviews_get_403_and_it_is_audited(signed_in, request, persona):
    user = request.getfixturevalue(persona)

    response = signed_in(user).get(URL)

    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="authz.denied.definition_create").count() == 1


def test_the_wizard_answers_405_to_other_methods(signed_in, admin_user):
    assert signed_in(admin_user).put(URL).status_code == 405


def test_a_group_owner_may_only_review_members_of_groups_they_own(
    signed_in, group_owner, owned_group
):
    client = signed_in(group_owner)
    page = text(client.get(URL))
    assert "Members of selected groups" in page
    assert "All Microsoft 365 groups" not in page and "directory roles" not in page

    _, _, created = walk(
        client,
        scope_data(group_ids=[owned_group.pk]),
        stage_data(**{"s1-fallback_user_ids": [group_owner.pk]}),
    )

    assert created.status_code == 302
    assert list(ReviewDefinition.objects.get().groups.all()) == [owned_group]


def test_a_group_owner_cannot_post_another_scope(signed_in, group_owner):
    wizard = Wizard(signed_in(group_owner))

    response = wizard.post("scope", scope_data(scope_type=ScopeType.ALL_GROUPS_WITH_GUESTS))

    assert "Select a valid choice" in errors_of(response, "id_scope_type")


# --- The review step's cost ---------------------------------------------------------------------


@pytest.mark.parametrize("members", [3, 30])
def test_the_review_step_runs_a_fixed_number_of_queries(
    signed_in, admin_user, django_assert_num_queries, members
):
    falcon = GroupFactory(name="Project Falcon")
    add_owners(falcon, UserFactory())
    add_members(falcon, *UserFactory.create_batch(members), GuestFactory())
    wizard = Wizard(signed_in(admin_user))
    wizard.step_ok("scope", scope_data(group_ids=[falcon.pk]), "reviewers")
    wizard.step_ok("reviewers", stage_data(), "schedule")
    wizard.step_ok("schedule", schedule_data(), "settings")
    wizard.step_ok("settings", settings_data(), "review")

    # 1 session  2 user  3 their active roles (may they create reviews?)
    # 4 the groups in scope, with owner counts  5 the preflight aggregate for Project Falcon
    # 6 the names the summary mentions (groups; users, applications and roles only if any)
    # 7 the inbox's unread count (base.html)
    with django_assert_num_queries(7):
        response = wizard.get("review")
    assert response.status_code == 200


# --- Editing a series ---------------------------------------------------------------------------


@pytest.fixture
def series(group_owner, owned_group):
    from accessreviews.services.definitions import definition_create
    from tests.accessreviews.factories import group_review_draft

    return definition_create(group_owner, group_review_draft([owned_group], name="Falcon monthly"))


def edit_url(definition):
    return reverse("accessreviews:definition-edit", args=[definition.uuid])


def edit_data(definition, **changes):
    data = {
        **scope_data(name="Falcon monthly", group_ids=[g.pk for g in definition.groups.all()]),
        **stage_data(),
        **schedule_data(),
        **settings_data(),
        "action": "save",
    }
    data.update(changes)
    return data


def test_the_edit_page_is_prefilled_and_saves_through_the_service(signed_in, group_owner, series):
    client = signed_in(group_owner)
    page = client.get(edit_url(series))
    assert page.status_code == 200 and 'value="Falcon monthly"' in page.content.decode()

    saved = client.post(edit_url(series), edit_data(series, name="Falcon, renamed"))

    assert saved.status_code == 302
    series.refresh_from_db()
    assert series.name == "Falcon, renamed"
    assert AuditEvent.objects.filter(action="definition.updated").count() == 1


def test_an_invalid_edit_shows_the_error_and_changes_nothing(signed_in, group_owner, series):
    response = signed_in(group_owner).post(
        edit_url(series), edit_data(series, **{"s1-duration_days": "40"})
    )

    assert response.status_code == 200
    assert "at most 27 days" in errors_of(response, "id_s1-duration_days")
    series.refresh_from_db()
    assert series.duration_days == 14


def test_the_edit_page_is_404_for_those_who_cannot_see_the_series(signed_in, outsider, series):
    assert signed_in(outsider).get(edit_url(series)).status_code == 404


def test_the_edit_page_is_403_for_readers_and_audited(signed_in, reader, series):
    response = signed_in(reader).post(edit_url(series), edit_data(series, name="Nope"))

    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="authz.denied.definition_update").exists()
    series.refresh_from_db()
    assert series.name == "Falcon monthly"


def test_an_ended_series_cannot_be_edited(signed_in, group_owner, series):
    from accessreviews.services.definitions import definition_end

    definition_end(group_owner, series)

    response = signed_in(group_owner).post(edit_url(series), edit_data(series, name="Nope"))

    assert response.status_code == 302
    series.refresh_from_db()
    assert series.name == "Falcon monthly"


def test_anonymous_people_are_sent_to_sign_in_from_the_edit_page(client, series):
    response = client.get(edit_url(series))

    assert response.status_code == 302 and reverse("login") in response["Location"]
