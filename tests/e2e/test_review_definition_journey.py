"""An admin defines a monthly group review in the wizard, reads it back, pauses and resumes it.

Runs once per viewport (tests/e2e/conftest.py: desktop 1366x900, phone 390x844). Every wait is
on something the page shows (Playwright's auto-waiting `expect`), never on a clock.
"""

import datetime
import re

import pytest
from playwright.sync_api import expect

from accessreviews.choices import SeriesStatus
from accessreviews.models import ReviewDefinition
from tests.factories import GroupFactory, UserFactory, add_members, add_owners

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
ZONE = "Europe/Paris"


def day(value: datetime.date) -> str:
    """How the portal writes a date: 'Thu 31 Jan 2030'."""
    return f"{value:%a} {value.day} {value:%b %Y}"


def sign_in(page, live_server, upn):
    page.goto(f"{live_server.url}/")
    page.get_by_label("User principal name").fill(upn)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def open_menu_if_collapsed(page):
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible():
        toggler.click()
        page.locator("#nav-main.collapse.show").wait_for()


def next_step(page, number, title):
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text(f"Step {number} of 5: {title}")).to_be_visible()


@pytest.fixture
def second_group(db):
    """Another owned group whose name shares a word with Project Falcon (one search finds both)."""
    group = GroupFactory(name="Falcon Contractors")
    add_owners(group, UserFactory(display_name="Carla Contractor-Lead"))
    add_members(group, UserFactory(), UserFactory())
    return group


def test_an_admin_creates_a_monthly_group_review_then_pauses_and_resumes_it(
    page, live_server, admin_user, group_owner, owned_group, second_group
):
    # group_owner owns Project Falcon, so the preflight finds an owner for each group and
    # asks for no acknowledgement.
    add_members(owned_group, UserFactory(), UserFactory(), UserFactory())
    # The 31st of a January two years on: always in the future, and February must clamp.
    start = datetime.date(datetime.date.today().year + 2, 1, 31)
    february_end = datetime.date(start.year, 3, 1) - datetime.timedelta(days=1)

    sign_in(page, live_server, admin_user.user_principal_name)
    expect(page.get_by_role("heading", name="Welcome, Alice Admin")).to_be_visible()

    # Reviews -> New review.
    open_menu_if_collapsed(page)
    page.get_by_role("link", name="Reviews", exact=True).click()
    expect(page.get_by_role("heading", name="Access reviews")).to_be_visible()
    page.get_by_role("link", name="New review").click()
    expect(page.get_by_text("Step 1 of 5: Scope")).to_be_visible()

    # 1. Scope: members of two groups, picked from two searches (the chooser searches as you
    # type, and a ticked match moves to the chosen list so the next search cannot drop it).
    page.get_by_label("Review name").fill("Falcon monthly access")
    page.get_by_label("Description for reviewers").fill("Keep only people still on the project.")
    page.get_by_label("Members of selected groups").check()
    groups = page.get_by_role("group", name="Groups", exact=True)
    for search, name in (("Project", "Project Falcon"), ("Contractors", "Falcon Contractors")):
        groups.get_by_role("searchbox").fill(search)
        match = groups.locator(".chooser-results label", has_text=name)
        expect(match).to_be_visible()
        match.get_by_role("checkbox").click()
        expect(groups.locator(".chooser-chosen")).to_contain_text(name)
    next_step(page, 2, "Reviewers and stages")

    # 2. One stage: the groups' owners, 14 days (the defaults, checked rather than assumed).
    stage = page.locator(".stage-card").first
    expect(stage.get_by_label("Group owners")).to_be_checked()
    stage.get_by_label("Duration (days)").fill("14")
    next_step(page, 3, "Schedule")

    # 3. Schedule: monthly from the 31st, 09:00 Paris time, no end.
    page.get_by_label("Start date").fill(start.isoformat())
    page.get_by_label("Start time").fill("09:00")
    page.get_by_label("Time zone").select_option(ZONE)
    # "Every" only applies to a repeating review.
    page.get_by_label("Repeat").select_option("oneTime")
    expect(page.get_by_label("Every")).to_be_hidden()
    page.get_by_label("Repeat").select_option("monthly")
    expect(page.get_by_label("Every")).to_be_visible()
    page.get_by_label("Never").check()
    next_step(page, 4, "Settings")

    # 4. Settings: the defaults. A step link (a submit button) keeps what was typed on the way.
    page.get_by_role("button", name="Schedule", exact=True).click()
    expect(page.get_by_text("Step 3 of 5: Schedule")).to_be_visible()
    expect(page.get_by_label("Start date")).to_have_value(start.isoformat())
    next_step(page, 4, "Settings")
    next_step(page, 5, "Review and create")

    # 5. Review: the summary in words, no blocking problems, and a calendar that clamps February.
    summary = page.locator("#summary")
    expect(summary).to_contain_text("Every month")
    expect(summary).to_contain_text(day(start))
    expect(summary).to_contain_text(ZONE)
    expect(page.get_by_text("Fix these before creating the review")).to_have_count(0)
    calendar = page.locator("table.calendar")
    expect(calendar).to_contain_text(f"{day(start)}, 09:00")
    expect(calendar).to_contain_text(f"{day(february_end)}, 09:00")
    expect(calendar.locator("tbody tr")).to_have_count(12)
    page.get_by_role("button", name="Create review").click()

    # The series page says what was chosen.
    expect(page.get_by_text("“Falcon monthly access” is created.")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Falcon monthly access"))).to_be_visible()
    header = page.locator(".page-header")
    expect(header).to_contain_text(f"Every month from {day(start)} at 09:00 ({ZONE})")
    expect(header).to_contain_text("14 days")
    expect(header).to_contain_text("Active")
    what = page.locator("section[aria-labelledby=h-what]")
    expect(what).to_contain_text("Project Falcon")
    expect(what).to_contain_text("Falcon Contractors")
    expect(page.locator("section[aria-labelledby^=h-stage-]")).to_contain_text("Group owners")
    expect(page.get_by_text("Keep only people still on the project.")).to_be_visible()
    upcoming = page.locator("ol.occurrences > li")
    expect(upcoming).to_have_count(12)
    expect(upcoming.first).to_contain_text(day(start))
    expect(upcoming.nth(1)).to_contain_text(day(february_end))

    definition = ReviewDefinition.objects.get(name="Falcon monthly access")
    assert definition.created_by_id == admin_user.pk
    assert definition.status == SeriesStatus.ACTIVE
    assert definition.time_zone == ZONE
    # 09:00 in Paris in winter is 08:00 UTC.
    assert definition.next_occurrence_at == datetime.datetime(
        start.year, 1, 31, 8, 0, tzinfo=datetime.UTC
    )

    # Pause: the badge, the message and the buttons change; so does the row.
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Series paused")).to_be_visible()
    expect(header).to_contain_text("Paused")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    expect(page.locator("section[aria-labelledby=h-current]")).to_contain_text(
        "once the series is resumed"
    )
    definition.refresh_from_db()
    assert definition.status == SeriesStatus.PAUSED

    # Resume: back to Active, with the same next occurrence (nothing fell in the pause).
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_text("Series resumed")).to_be_visible()
    expect(header).to_contain_text("Active")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    definition.refresh_from_db()
    assert definition.status == SeriesStatus.ACTIVE
    assert definition.next_occurrence_at == datetime.datetime(
        start.year, 1, 31, 8, 0, tzinfo=datetime.UTC
    )
