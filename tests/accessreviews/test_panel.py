"""The access panel's pages: "My reviews" and a review page, who sees what, keyset paging."""

import datetime as dt

import pytest
from django.urls import reverse

from accessreviews.choices import Decision, ReviewerType
from accessreviews.drafts import StageDraft
from accessreviews.models import ItemReviewer, ReviewInstance, ReviewStage
from accessreviews.models.instances import InstanceStatus, Recommendation, StageStatus
from accessreviews.selectors_panel import PAGE_SIZE, Cursor, days_left
from accessreviews.services.decisions import decision_record
from accessreviews.services.stages import stage_close
from benchmarks.panel import seed_review
from tests.accessreviews import panel_fixtures as fx
from tests.accessreviews.panel_fixtures import NOW, item_of, panel_url, person, start
from tests.factories import GroupFactory, UserFactory, add_members, add_owners

pytestmark = pytest.mark.django_db

# The shared fixtures, bound here so pytest finds them in this module.
frozen, people, review = fx.frozen, fx.people, fx.review


# --- My reviews ----------------------------------------------------------------------------------


def test_my_reviews_lists_open_stages_with_progress_and_days_left(signed_in, reviewer, review):
    decision_record(reviewer, review, Decision.APPROVE, items=[review.instance.items.first().pk])
    response = signed_in(reviewer).get(reverse("accessreviews:my-reviews"))
    assert response.status_code == 200
    (assignment, left, progress), *others = response.context["open"]
    assert not others
    assert assignment.stage_id == review.pk
    assert left == 14  # due 15 Dec 09:00 Paris, seen on 1 Dec in the portal's zone
    assert (progress.decided, progress.total, progress.percent) == (1, 3, 33)
    html = response.content.decode()
    assert "Falcon" in html and "14 days left" in html and "1</strong> of 3 decided" in html
    assert panel_url(review) in html
    assert response.context["past"] == []


def test_my_reviews_moves_a_closed_review_to_past(signed_in, reviewer, review):
    ReviewInstance.objects.filter(pk=review.instance_id).update(status=InstanceStatus.COMPLETED)
    response = signed_in(reviewer).get(reverse("accessreviews:my-reviews"))
    assert response.context["open"] == []
    assert [a.stage_id for a in response.context["past"]] == [review.pk]
    assert "View" in response.content.decode()


def test_my_reviews_is_empty_for_an_outsider(signed_in, outsider, review):
    response = signed_in(outsider).get(reverse("accessreviews:my-reviews"))
    assert response.status_code == 200
    assert response.context["open"] == [] and response.context["past"] == []
    assert "Nothing to review right now" in response.content.decode()


@pytest.mark.parametrize("count", [1, 4])
def test_my_reviews_runs_a_fixed_number_of_queries(
    signed_in, reviewer, admin_user, django_assert_num_queries, count
):
    for number in range(count):
        seed_review(3, reviewer, prefix=f"my{number}", admin=admin_user, now=NOW)
    client = signed_in(reviewer)
    # 1 session, 2 signed-in user, 3 my open assignments with their stages and instances,
    # 4 my past ones (the same join), 5 unread messages for the nav's inbox badge, 6-8 the
    # nav's capabilities (active roles, whether I own a group, the group-owner switch).
    with django_assert_num_queries(8):
        response = client.get(reverse("accessreviews:my-reviews"))
    assert len(response.context["open"]) == count


def test_days_left_count_calendar_days_in_the_viewers_zone():
    due = dt.datetime(2026, 12, 15, 8, 0, tzinfo=dt.UTC)
    now = dt.datetime(2026, 12, 14, 20, 0, tzinfo=dt.UTC)
    assert days_left(due, "UTC", now) == 1
    # In Kiritimati (UTC+14) it is already the 15th at 20:00 UTC: due today.
    assert days_left(due, "Pacific/Kiritimati", now) == 0
    assert days_left(due, "America/Los_Angeles", now) == 1
    assert days_left(due, "UTC", due + dt.timedelta(days=2)) == -2


def test_my_reviews_needs_sign_in_and_get(client, signed_in, reviewer):
    url = reverse("accessreviews:my-reviews")
    response = client.get(url)
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert signed_in(reviewer).post(url).status_code == 405


def test_the_home_page_leads_to_my_reviews(signed_in, reviewer, review):
    html = signed_in(reviewer).get(reverse("home")).content.decode()
    assert reverse("accessreviews:my-reviews") in html
    assert "1 open review" in html


def test_a_messages_link_opens_my_stage(signed_in, reviewer, outsider, review):
    url = reverse("accessreviews:review-open", kwargs={"uuid": review.instance.uuid})
    response = signed_in(reviewer).get(url)
    assert response.status_code == 302 and response["Location"] == panel_url(review)
    assert signed_in(outsider).get(url).status_code == 404


# --- The review page -----------------------------------------------------------------------------


def test_the_page_shows_each_person_with_what_a_reviewer_needs(signed_in, reviewer, review):
    response = signed_in(reviewer).get(panel_url(review))
    assert response.status_code == 200
    rows = response.context["p"].rows
    assert [r.item.principal_name for r in rows] == ["Alice Active", "Bob Stale", "Carol New"]
    alice, bob, carol = rows
    assert (alice.department, alice.manager) == ("Sales", "Mona Manager")
    assert alice.recommendation_reason == "signed in 2 days ago"
    assert bob.recommendation_reason == "no sign-in for 74 days"
    assert carol.recommendation_reason == "account created within the last 30 days"
    html = response.content.decode()
    for text in (
        "Keep only Falcon staff.",
        "alice@x.example",
        "Guest",
        "Mona Manager",
        "Direct",
        "74 days ago",
        "no sign-in for 74 days",
        "Not reviewed",
        "Keyboard shortcuts",
    ):
        assert text in html, text


def test_a_co_reviewers_decision_shows_who_and_when(signed_in, reviewer, other_reviewer, review):
    alice = item_of(review, UserFactory._meta.model.objects.get(display_name="Alice Active"))
    decision_record(other_reviewer, review, Decision.DENY, items=[alice.pk], justification="left")
    html = signed_in(reviewer).get(panel_url(review)).content.decode()
    assert "✗ Denied" in html and "by Olga Other" in html and "left" in html


@pytest.mark.parametrize("persona", ["outsider", "reader", "admin_user"])
def test_anyone_without_links_gets_404(signed_in, review, persona, request):
    """Roles do not open a reviewer's page: the admin who created it and a reader included."""
    user = request.getfixturevalue(persona)
    assert signed_in(user).get(panel_url(review)).status_code == 404


def test_the_page_needs_sign_in_and_get(client, signed_in, reviewer, review):
    response = client.get(panel_url(review))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert signed_in(reviewer).post(panel_url(review)).status_code == 405
    assert signed_in(reviewer).get(panel_url(review, ordinal=2)).status_code == 404


def test_a_manager_sees_only_their_own_reports(admin_user, signed_in, reviewer, other_reviewer):
    mine = person("Mia Mine", manager=reviewer)
    theirs = person("Theo Theirs", manager=other_reviewer)
    group = GroupFactory(name="Managers' review")
    add_members(group, mine, theirs)
    stage = start(admin_user, group, stages=[StageDraft(ReviewerType.MANAGERS, duration_days=14)])
    client = signed_in(reviewer)
    response = client.get(panel_url(stage))
    assert [r.item.principal_name for r in response.context["p"].rows] == ["Mia Mine"]
    other = item_of(stage, theirs)
    url = reverse(
        "accessreviews:item-decide",
        kwargs={"uuid": stage.instance.uuid, "ordinal": 1, "item": other.uuid},
    )
    assert client.post(url, {"decision": Decision.DENY}).status_code == 404
    other.refresh_from_db()
    assert other.decision == Decision.NOT_REVIEWED


def test_filters_narrow_the_list(signed_in, reviewer, review, people):
    client = signed_in(reviewer)
    decision_record(reviewer, review, Decision.APPROVE, items=[item_of(review, people["alice"]).pk])

    def names(**params):
        response = client.get(panel_url(review), params)
        return [r.item.principal_name for r in response.context["p"].rows]

    assert names(status="pending") == ["Bob Stale", "Carol New"]
    assert names(status="decided") == ["Alice Active"]
    assert names(recommendation=Recommendation.DENY) == ["Bob Stale"]
    assert names(user_type="Guest") == ["Bob Stale"]
    assert names(path="direct") == ["Alice Active", "Bob Stale", "Carol New"]
    assert names(q="ALICE@x") == ["Alice Active"]
    assert names(q="carol") == ["Carol New"]
    # Unknown values are ignored, never a 500.
    assert names(status="maybe", recommendation="x", path="\u2603", q="x" * 5000) == []
    assert names(status="maybe") == ["Alice Active", "Bob Stale", "Carol New"]


def test_keyset_pages_go_forward_and_back_with_an_opaque_cursor(signed_in, reviewer, admin_user):
    size = 2 * PAGE_SIZE + 7
    stage = seed_review(size, reviewer, prefix="pg", admin=admin_user, now=NOW)
    client = signed_in(reviewer)
    seen, cursor, pages = [], "", 0
    while True:
        panel = client.get(panel_url(stage), {"cursor": cursor} if cursor else {}).context["p"]
        seen += [r.item.pk for r in panel.rows]
        pages += 1
        if not panel.next_cursor:
            break
        cursor = panel.next_cursor
        assert "pg" not in cursor.split(":")[0]  # signed, not the raw sort key in clear
    assert pages == 3 and len(seen) == size == len(set(seen))
    by_name = list(
        ItemReviewer.objects.filter(stage=stage, reviewer=reviewer)
        .order_by("sort_key", "item_id")
        .values_list("item_id", flat=True)
    )
    assert seen == by_name
    # Back from the last page gives the middle page again.
    back = client.get(panel_url(stage), {"cursor": panel.prev_cursor}).context["p"]
    assert [r.item.pk for r in back.rows] == by_name[PAGE_SIZE : 2 * PAGE_SIZE]
    assert back.prev_cursor and back.next_cursor


def test_a_tampered_or_foreign_cursor_starts_from_the_first_page(signed_in, reviewer, review):
    foreign = Cursor("a", "bob stale", 1).dumps("999:999")
    for cursor in ("nonsense", foreign, "a" * 3000):
        response = signed_in(reviewer).get(panel_url(review), {"cursor": cursor})
        assert response.status_code == 200
        assert len(response.context["p"].rows) == 3


@pytest.mark.parametrize("size", [10, 1_000, 10_000])
def test_the_page_runs_a_fixed_number_of_queries(
    signed_in, reviewer, admin_user, django_assert_num_queries, size
):
    stage = seed_review(size, reviewer, prefix=f"q{size}", admin=admin_user, now=NOW)
    client = signed_in(reviewer)
    # 1 session, 2 signed-in user, 3 my assignment with its stage and instance, 4 one page of
    # my links by name (keyset) with their items, deciders, and the principals' department and
    # manager as subqueries, 5 unread messages for the nav's inbox badge, 6-8 the nav's
    # capabilities (active roles, whether I own a group, the tenant's group-owner switch).
    # Stage 1 of an open review reads no stage history.
    with django_assert_num_queries(8):
        response = client.get(panel_url(stage), {"status": "pending"})
    assert len(response.context["p"].rows) == min(size, PAGE_SIZE)


def test_a_closed_stages_page_adds_one_query_for_its_history(
    signed_in, reviewer, admin_user, django_assert_num_queries
):
    stage = seed_review(60, reviewer, prefix="closed", admin=admin_user, now=NOW)
    stage_close(stage, NOW)
    client = signed_in(reviewer)
    # The open page's 8 queries (see above) plus the stage history of the page's items.
    with django_assert_num_queries(9):
        response = client.get(panel_url(stage))
    assert len(response.context["p"].rows) == PAGE_SIZE
    # Its last stage closed, the review awaits its end: closed, not "continues later".
    assert not response.context["p"].is_past_stage
    assert "This review has closed" in response.content.decode()


def test_a_later_stage_shows_earlier_decisions(admin_user, signed_in, reviewer, other_reviewer):
    alice = person("Alice Active")
    group = GroupFactory(name="Two stages")
    add_members(group, alice)
    add_owners(group, other_reviewer)
    stages = [
        StageDraft(ReviewerType.GROUP_OWNERS, 7),
        StageDraft(ReviewerType.SELECTED, 7, reviewer_user_ids=[reviewer.pk]),
    ]
    first = start(admin_user, group, stages=stages)
    item = item_of(first, alice)
    decision_record(other_reviewer, first, Decision.APPROVE, items=[item.pk], justification="ok")
    stage_close(first, NOW)
    second = ReviewStage.objects.select_related("instance").get(instance=first.instance, ordinal=2)
    response = signed_in(reviewer).get(panel_url(second))
    (row,) = response.context["p"].rows
    assert [(h.stage_ordinal, h.decision) for h in row.earlier] == [(1, Decision.APPROVE)]
    assert row.is_pending
    html = response.content.decode()
    assert "Stage 1:" in html and "by Olga Other" in html
    # Stage 1 is now past: its reviewer reads it, with what it decided, and cannot decide.
    past = signed_in(other_reviewer).get(panel_url(first))
    assert past.status_code == 200
    assert past.context["p"].is_past_stage
    (old,) = past.context["p"].rows
    assert old.decided.decision == Decision.APPROVE
    assert "This stage has ended" in past.content.decode()
    assert 'name="decision"' not in past.content.decode()


def test_a_closed_review_shows_its_outcome_read_only(signed_in, reviewer, review, people):
    decision_record(reviewer, review, Decision.DENY, items=[item_of(review, people["bob"]).pk])
    ReviewStage.objects.filter(pk=review.pk).update(status=StageStatus.COMPLETED)
    ReviewInstance.objects.filter(pk=review.instance_id).update(status=InstanceStatus.COMPLETED)
    response = signed_in(reviewer).get(panel_url(review))
    html = response.content.decode()
    assert response.status_code == 200
    assert "This review has closed" in html
    assert "access to be removed" in html and "keeps access" not in html.split("Bob Stale")[0]
    assert 'name="decision"' not in html and 'id="bulk"' not in html


def test_a_self_review_asks_whether_i_still_need_access(admin_user, signed_in):
    me = person("Sam Self")
    group = GroupFactory(name="Finance share")
    add_members(group, me, person("Other Member"))
    stage = start(admin_user, group, stages=[StageDraft(ReviewerType.SELF, duration_days=14)])
    response = signed_in(me).get(panel_url(stage))
    html = response.content.decode()
    assert "Do you still need access to Finance share?" in html
    assert "Yes, I need it" in html and "No, remove it" in html and "Don't know" not in html
    assert 'id="bulk"' not in html and "Recommendation:" not in html
    assert [r.item.principal_name for r in response.context["p"].rows] == ["Sam Self"]
