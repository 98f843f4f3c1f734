"""A reviewer works through a review in the access panel, from "My reviews" to 100%.

Runs once per viewport (tests/e2e/conftest.py: desktop 1366x900, phone 390x844); the desktop
run ends by narrowing the same page to 375 px. Every wait is on something the page shows
(Playwright's auto-waiting `expect`), never on a clock. Screenshots of each step go to
var/e2e/ for the review of the change.
"""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from accessreviews.choices import Decision
from accessreviews.drafts import DefinitionDraft, StageDraft
from accessreviews.models import DecisionItem, ReviewerAssignment
from accessreviews.models.instances import DecisionSource
from accessreviews.schedule import Recurrence
from accessreviews.services.definitions import definition_create
from accessreviews.services.start import instances_start_due
from tests.factories import GroupFactory, UserFactory, add_members, add_owners

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
SHOTS = Path(settings.BASE_DIR) / "var" / "e2e"


@pytest.fixture
def falcon_review(admin_user, reviewer):
    """Seven members of Falcon Ops, reviewed by its owner Rob: two recommended Approve (recent
    sign-in), two Deny (stale), three with no information (new accounts)."""
    now = timezone.now()
    recent, stale = now - dt.timedelta(days=3), now - dt.timedelta(days=90)
    old, new = now - dt.timedelta(days=400), now - dt.timedelta(days=2)
    members = [
        UserFactory(display_name="Alice Active", last_sign_in_at=recent, created_at=old),
        UserFactory(display_name="Bob Stale", last_sign_in_at=stale, created_at=old),
        UserFactory(display_name="Carol New", last_sign_in_at=None, created_at=new),
        UserFactory(display_name="Dan Dormant", last_sign_in_at=stale, created_at=old),
        UserFactory(display_name="Erin Early", last_sign_in_at=recent, created_at=old),
        UserFactory(display_name="Frank Fresh", last_sign_in_at=None, created_at=new),
        UserFactory(
            display_name="Gina Guest", user_type="Guest", last_sign_in_at=None, created_at=new
        ),
    ]
    group = GroupFactory(name="Falcon Ops")
    add_members(group, *members)
    add_owners(group, reviewer)
    start = now - dt.timedelta(minutes=5)
    draft = DefinitionDraft(
        name="Falcon Ops quarterly",
        description_for_reviewers="Keep only the people still on Falcon operations.",
        group_ids=[group.pk],
        time_zone="UTC",
        start_date=start.date(),
        start_time=start.time().replace(second=0, microsecond=0),
        recurrence=Recurrence.ONE_TIME,
        stages=[StageDraft(duration_days=14)],
    )
    definition_create(admin_user, draft, now=start - dt.timedelta(days=1))
    instances_start_due(now)
    return ReviewerAssignment.objects.select_related("stage").get(reviewer=reviewer)


class Shots:
    def __init__(self, page, viewport: str):
        self.page, self.viewport, self.step = page, viewport, 0
        SHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str):
        self.step += 1
        path = SHOTS / f"reviewer-{self.viewport}-{self.step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)


def sign_in(page, live_server, upn):
    page.goto(f"{live_server.url}/")
    page.get_by_label("User principal name").fill(upn)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def unfold(page, title):
    """Phones fold the filter and the bulk form: open the one named `title` if folded."""
    tool = page.locator("details.panel-tool", has=page.locator("summary", has_text=title))
    if tool.get_attribute("open") is None:
        tool.locator("summary").click()
    expect(tool).to_have_attribute("open", "")
    return tool


def row(page, name):
    return page.locator("li[data-row]", has=page.get_by_role("heading", name=name))


def filter_by(page, **choices):
    tool = unfold(page, "Filter and search")
    for label, value in choices.items():
        tool.get_by_label(label, exact=True).select_option(label=value)
    tool.get_by_role("button", name="Apply").click()


def decisions() -> dict[str, str]:
    return dict(DecisionItem.objects.values_list("principal_name", "decision"))


def test_a_reviewer_works_through_a_review_to_100_percent(
    page, live_server, reviewer, falcon_review
):
    shot = Shots(page, "phone" if page.viewport_size["width"] < 768 else "desktop")

    sign_in(page, live_server, reviewer.user_principal_name)
    home_card = page.locator("section", has=page.get_by_role("heading", name="My access reviews"))
    expect(home_card).to_contain_text("1 open review, 7 decisions waiting for you")
    shot("home")
    home_card.get_by_role("link", name="My reviews").click()

    # My reviews: the open review with its progress, days left and a link.
    expect(page.get_by_role("heading", name="My reviews", level=1)).to_be_visible()
    expect(page.get_by_text("0 of 7 decided")).to_be_visible()
    expect(page.get_by_text("14 days left")).to_be_visible()
    shot("my-reviews")
    page.get_by_role("link", name="Start reviewing").click()
    expect(page.get_by_role("heading", name="Falcon Ops", level=1)).to_be_visible()
    expect(page.get_by_text("Keep only the people still on Falcon operations.")).to_be_visible()
    shot("review")

    # Filter to pending.
    filter_by(page, Decision="Pending")
    expect(page).to_have_url(re.compile(r"status=pending"))
    expect(page.locator("li[data-row]")).to_have_count(7)
    shot("pending")

    # Approve one person: the row updates in place (htmx), the progress too.
    row(page, "Alice Active").get_by_role("button", name="Approve").click()
    expect(row(page, "Alice Active")).to_contain_text("✓ Approved")
    expect(row(page, "Alice Active")).to_contain_text("by you")
    expect(page.locator("#progress")).to_contain_text("1 of 7 decided")
    shot("approved-one")

    # Deny another with a reason.
    bob = row(page, "Bob Stale")
    expect(bob).to_contain_text("no sign-in for 90 days")
    bob.get_by_label("Reason").fill("Left the project in September")
    bob.get_by_role("button", name="Deny").click()
    expect(row(page, "Bob Stale")).to_contain_text("✗ Denied")
    expect(row(page, "Bob Stale")).to_contain_text("Left the project in September")
    expect(page.locator("#progress")).to_contain_text("2 of 7 decided")
    shot("denied-one")
    assert decisions()["Bob Stale"] == Decision.DENY

    # Accept recommendations for all pending people: Dan (Deny) and Erin (Approve).
    bulk = unfold(page, "Decide many at once")
    bulk.get_by_role("button", name="For all my pending people").click()
    expect(page.get_by_text("Accepted the recommendation for 2 people.")).to_be_visible()
    expect(page.locator("li[data-row]")).to_have_count(3)  # still filtered to pending
    shot("accepted-recommendations")
    item = DecisionItem.objects.get(principal_name="Dan Dormant")
    assert (item.decision, item.decision_source) == (
        Decision.DENY,
        DecisionSource.RECOMMENDATION,
    )

    # A keyboard shortcut: j focuses the first pending person (Carol), u = Don't know.
    page.keyboard.press("j")
    expect(row(page, "Carol New")).to_be_focused()
    page.keyboard.press("u")
    expect(row(page, "Carol New")).to_contain_text("? Don't know")
    expect(row(page, "Carol New")).to_be_focused()
    expect(page.locator("#progress")).to_contain_text("5 of 7 decided")
    shot("keyboard")

    # Approve all matching a filter: the pending people with no recommendation.
    filter_by(page, Decision="Pending", Recommendation="No information")
    expect(page.locator("li[data-row]")).to_have_count(2)
    bulk = unfold(page, "Decide many at once")
    bulk.get_by_label("Everyone matching this filter").check()
    bulk.get_by_label("Reason (optional)").fill("New starters on Falcon")
    bulk.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Approved 2 people.")).to_be_visible()

    # 100%.
    expect(page.locator("#progress")).to_contain_text("7 of 7 decided")
    expect(page.locator("#progress")).to_contain_text("100%")
    shot("done")
    assert Decision.NOT_REVIEWED not in decisions().values()
    assert ReviewerAssignment.objects.get(pk=falcon_review.pk).pending == 0

    # The phone-width layout: nothing wider than the screen.
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(page.url.split("?")[0])
    expect(page.locator("li[data-row]")).to_have_count(7)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot("phone-width")
