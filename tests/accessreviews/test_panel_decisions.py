"""Deciding in the access panel: one person (htmx and plain), many, all matching, recommendations,
self-review, past and closed stages, and who may do it."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accessreviews.choices import Decision, ReviewerType
from accessreviews.drafts import StageDraft
from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    ItemReviewer,
    ReviewerAssignment,
    ReviewInstance,
)
from accessreviews.models.instances import DecisionSource, InstanceStatus, Recommendation
from accessreviews.services import operations
from accessreviews.services.decisions import decision_record
from accessreviews.services.stages import stage_close
from benchmarks.panel import seed_review
from directory.models import AuditEvent
from tests.accessreviews import panel_fixtures as fx
from tests.accessreviews.panel_fixtures import NOW, item_of, panel_url, person, start
from tests.factories import GroupFactory, add_members, add_owners

pytestmark = pytest.mark.django_db

frozen, people, review = fx.frozen, fx.people, fx.review

HTMX = {"HTTP_HX_REQUEST": "true"}


def decide_url(stage, item, ordinal=None):
    return reverse(
        "accessreviews:item-decide",
        kwargs={
            "uuid": stage.instance.uuid,
            "ordinal": ordinal or stage.ordinal,
            "item": item.uuid,
        },
    )


def bulk_url(stage, name="items-decide"):
    return reverse(
        f"accessreviews:{name}", kwargs={"uuid": stage.instance.uuid, "ordinal": stage.ordinal}
    )


def decisions(stage) -> dict[str, str]:
    items = DecisionItem.objects.filter(instance_id=stage.instance_id)
    return dict(items.values_list("principal_name", "decision"))


def pending(stage, user) -> int:
    return ReviewerAssignment.objects.get(stage=stage, reviewer=user).pending


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


# --- One person ----------------------------------------------------------------------------------


def test_a_plain_post_decides_and_returns_to_the_same_filtered_page(
    signed_in, reviewer, other_reviewer, review, people
):
    bob = item_of(review, people["bob"])
    response = signed_in(reviewer).post(
        decide_url(review, bob),
        {"decision": Decision.DENY, "justification": " left the team ", "here": "status=pending"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{panel_url(review)}?status=pending#item-{bob.uuid}"
    bob.refresh_from_db()
    assert (bob.decision, bob.reviewed_by_id, bob.justification) == (
        Decision.DENY,
        reviewer.pk,
        "left the team",
    )
    assert pending(review, reviewer) == pending(review, other_reviewer) == 2
    assert AuditEvent.objects.filter(action="decision.recorded").count() == 1


def test_an_htmx_post_answers_the_row_and_the_progress(signed_in, reviewer, review, people):
    alice = item_of(review, people["alice"])
    response = signed_in(reviewer).post(
        decide_url(review, alice), {"decision": Decision.APPROVE}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<li class="card panel-row" id="item-{alice.uuid}"')
    assert "✓ Approved" in html and "by you" in html
    assert 'id="progress" hx-swap-oob="true"' in html and "<strong>1</strong> of 3" in html
    alice.refresh_from_db()
    assert alice.decision == Decision.APPROVE


def test_the_last_decision_wins_until_the_stage_closes(
    signed_in, reviewer, other_reviewer, review, people
):
    alice = item_of(review, people["alice"])
    signed_in(reviewer).post(decide_url(review, alice), {"decision": Decision.APPROVE})
    signed_in(other_reviewer).post(
        decide_url(review, alice), {"decision": Decision.DONT_KNOW}, **HTMX
    )
    alice.refresh_from_db()
    assert (alice.decision, alice.reviewed_by_id) == (Decision.DONT_KNOW, other_reviewer.pk)
    assert DecisionHistory.objects.filter(item=alice).count() == 2


def test_a_required_reason_is_asked_for_by_name(admin_user, signed_in, reviewer, people):
    group = GroupFactory(name="Strict")
    add_members(group, people["alice"])
    add_owners(group, reviewer)
    stage = start(admin_user, group, justification_required=True)
    alice = item_of(stage, people["alice"])
    client = signed_in(reviewer)
    response = client.post(decide_url(stage, alice), {"decision": Decision.APPROVE})
    assert response.status_code == 302
    assert messages_of(response) == ["Alice Active: Reason: This review requires a justification."]
    htmx = client.post(decide_url(stage, alice), {"decision": Decision.APPROVE}, **HTMX)
    assert "Reason: This review requires a justification." in htmx.content.decode()
    assert 'aria-invalid="true"' in htmx.content.decode()
    alice.refresh_from_db()
    assert alice.decision == Decision.NOT_REVIEWED
    client.post(decide_url(stage, alice), {"decision": Decision.APPROVE, "justification": "ok"})
    alice.refresh_from_db()
    assert alice.decision == Decision.APPROVE


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"decision": "Maybe"},
        {"decision": Decision.NOT_REVIEWED},
        {"decision": "Deny", "justification": "x" * 1001},
    ],
)
def test_bad_input_is_refused_by_name_and_changes_nothing(
    signed_in, reviewer, review, people, data
):
    alice = item_of(review, people["alice"])
    response = signed_in(reviewer).post(decide_url(review, alice), data)
    assert response.status_code == 302
    (text,) = messages_of(response)
    assert text.startswith("Alice Active: ") and ("Decision:" in text or "Reason:" in text)
    assert set(decisions(review).values()) == {Decision.NOT_REVIEWED}


def test_deciding_needs_sign_in_post_and_csrf(client, reviewer, review, people):
    url = decide_url(review, item_of(review, people["alice"]))
    response = client.post(url, {"decision": Decision.APPROVE})
    assert response.status_code == 302 and reverse("login") in response["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(reviewer, backend="directory.backends.DirectoryBackend")
    assert strict.get(url).status_code == 405
    assert strict.post(url, {"decision": Decision.APPROVE}).status_code == 403
    assert strict.post(url, {"decision": Decision.APPROVE}, **HTMX).status_code == 403
    assert set(decisions(review).values()) == {Decision.NOT_REVIEWED}


def test_bulk_decisions_answer_405_to_get_and_login_to_anonymous(
    client, signed_in, reviewer, review
):
    names = ("items-decide", "recommendations-accept")
    for name in names:
        response = client.post(bulk_url(review, name), {"decision": "Deny", "scope": "matching"})
        assert response.status_code == 302 and reverse("login") in response["Location"]
    for name in names:
        assert signed_in(reviewer).get(bulk_url(review, name)).status_code == 405
    assert set(decisions(review).values()) == {Decision.NOT_REVIEWED}


@pytest.mark.parametrize("persona", ["outsider", "reader", "admin_user"])
def test_anyone_without_a_link_gets_404_whatever_their_role(
    signed_in, review, people, persona, request
):
    client = signed_in(request.getfixturevalue(persona))
    alice = item_of(review, people["alice"])
    assert client.post(decide_url(review, alice), {"decision": Decision.DENY}).status_code == 404
    for name, data in (("items-decide", {"scope": "matching"}), ("recommendations-accept", {})):
        data = {"decision": Decision.DENY, "accept": "pending", **data}
        assert client.post(bulk_url(review, name), data).status_code == 404
    assert set(decisions(review).values()) == {Decision.NOT_REVIEWED}


def test_an_item_of_another_review_is_404_even_for_a_reviewer(
    admin_user, signed_in, reviewer, review, people
):
    elsewhere = GroupFactory(name="Elsewhere")
    add_members(elsewhere, person("Eve Elsewhere"))
    add_owners(elsewhere, person("Owen Other"))
    other = start(admin_user, elsewhere)
    eve = DecisionItem.objects.get(instance_id=other.instance_id)
    # My own review's URL with a stranger's item id.
    url = decide_url(review, eve)
    assert signed_in(reviewer).post(url, {"decision": Decision.DENY}).status_code == 404
    eve.refresh_from_db()
    assert eve.decision == Decision.NOT_REVIEWED


def test_a_past_stage_is_read_only_403(admin_user, signed_in, reviewer, other_reviewer):
    alice = person("Alice Active")
    group = GroupFactory(name="Two stages")
    add_members(group, alice)
    add_owners(group, reviewer)
    stages = [
        StageDraft(ReviewerType.GROUP_OWNERS, 7),
        StageDraft(ReviewerType.SELECTED, 7, reviewer_user_ids=[other_reviewer.pk]),
    ]
    first = start(admin_user, group, stages=stages)
    item = item_of(first, alice)
    stage_close(first, NOW)
    events = AuditEvent.objects.filter(action="authz.denied.panel_decide")
    client = signed_in(reviewer)
    assert client.post(decide_url(first, item), {"decision": Decision.DENY}).status_code == 403
    response = client.post(bulk_url(first), {"decision": Decision.DENY, "scope": "matching"})
    assert response.status_code == 403
    assert events.count() == 2
    item.refresh_from_db()
    assert item.decision == Decision.NOT_REVIEWED


def test_a_closed_review_says_so_and_changes_nothing(signed_in, reviewer, review, people):
    """Also when the page was loaded while it was open: the POST comes after the close."""
    client = signed_in(reviewer)
    page = client.get(panel_url(review))
    assert 'name="decision"' in page.content.decode()
    ReviewInstance.objects.filter(pk=review.instance_id).update(status=InstanceStatus.COMPLETED)
    alice = item_of(review, people["alice"])
    response = client.post(decide_url(review, alice), {"decision": Decision.DENY})
    assert response.status_code == 302
    assert messages_of(response) == [
        "This review has closed: decisions are read-only and nothing was changed."
    ]
    htmx = client.post(decide_url(review, alice), {"decision": Decision.DENY}, **HTMX)
    assert htmx.status_code == 200 and "This review has closed" in htmx.content.decode()
    for name in ("items-decide", "recommendations-accept"):
        data = {"decision": Decision.DENY, "scope": "matching", "accept": "pending"}
        response = client.post(bulk_url(review, name), data)
        assert messages_of(response)[-1].startswith("This review has closed")
    assert set(decisions(review).values()) == {Decision.NOT_REVIEWED}
    assert not DecisionHistory.objects.exists()


# --- Many at once --------------------------------------------------------------------------------


def test_selected_rows_get_one_decision_with_one_reason(signed_in, reviewer, review, people):
    ids = [str(item_of(review, people[k]).uuid) for k in ("alice", "bob")]
    response = signed_in(reviewer).post(
        bulk_url(review),
        {"decision": Decision.DENY, "scope": "selected", "items": ids, "justification": "moved"},
    )
    assert response.status_code == 302 and response["Location"] == panel_url(review)
    assert messages_of(response) == ["Denied 2 people."]
    assert decisions(review) == {
        "Alice Active": Decision.DENY,
        "Bob Stale": Decision.DENY,
        "Carol New": Decision.NOT_REVIEWED,
    }
    assert set(
        DecisionItem.objects.filter(decision=Decision.DENY).values_list("justification", flat=True)
    ) == {"moved"}
    assert AuditEvent.objects.filter(action="decision.recorded").count() == 1


def test_all_matching_is_evaluated_on_the_server_at_post_time(signed_in, reviewer, review, people):
    # The page was filtered to Deny recommendations (Bob); Carol's becomes Deny before the POST.
    carol = item_of(review, people["carol"])
    DecisionItem.objects.filter(pk=carol.pk).update(recommendation=Recommendation.DENY)
    response = signed_in(reviewer).post(
        bulk_url(review),
        {"decision": Decision.DENY, "scope": "matching", "recommendation": Recommendation.DENY},
    )
    assert messages_of(response) == ["Denied 2 people."]
    assert decisions(review) == {
        "Alice Active": Decision.NOT_REVIEWED,
        "Bob Stale": Decision.DENY,
        "Carol New": Decision.DENY,
    }


@pytest.mark.parametrize(
    "field, value, label",
    [
        ("recommendation", "Deny ", "Recommendation filter:"),
        ("status", "undecided", "Decision filter:"),
        ("user_type", "Robot", "User type filter:"),
        ("path", "Nested", "Access filter:"),
        ("q", "a" * 201, "Name or email filter:"),
    ],
)
def test_all_matching_refuses_a_filter_it_does_not_know_and_changes_nothing(
    signed_in, reviewer, review, field, value, label
):
    response = signed_in(reviewer).post(
        bulk_url(review), {"decision": Decision.DENY, "scope": "matching", field: value}
    )

    assert response.status_code == 302
    (message,) = messages_of(response)
    assert message.startswith(label)
    assert set(decisions(review).values()) == {Decision.NOT_REVIEWED}


def test_all_matching_never_includes_my_own_access(admin_user, signed_in, reviewer, people):
    group = GroupFactory(name="Owners are members")
    add_members(group, people["alice"], reviewer)
    add_owners(group, reviewer)
    stage = start(admin_user, group)
    response = signed_in(reviewer).post(
        bulk_url(stage), {"decision": Decision.APPROVE, "scope": "matching"}
    )
    assert messages_of(response) == ["Approved 1 person."]
    assert decisions(stage) == {"Alice Active": Decision.APPROVE, "Rob Reviewer": "NotReviewed"}


def test_a_selection_of_strangers_changes_nothing(admin_user, signed_in, reviewer, review, people):
    elsewhere = GroupFactory(name="Elsewhere")
    add_members(elsewhere, person("Eve Elsewhere"))
    add_owners(elsewhere, person("Owen Other"))
    eve = DecisionItem.objects.get(instance_id=start(admin_user, elsewhere).instance_id)
    response = signed_in(reviewer).post(
        bulk_url(review), {"decision": Decision.DENY, "scope": "selected", "items": [eve.uuid]}
    )
    assert messages_of(response) == ["Denied 0 people."]
    eve.refresh_from_db()
    assert eve.decision == Decision.NOT_REVIEWED


@pytest.mark.parametrize(
    "data, field",
    [
        ({"decision": Decision.DENY, "scope": "selected"}, "Selection:"),
        ({"decision": Decision.DENY, "scope": "selected", "items": ["not-a-uuid"]}, "Selection:"),
        ({"decision": Decision.DENY, "scope": "everything"}, "Scope:"),
        ({"scope": "matching"}, "Decision:"),
    ],
)
def test_a_bad_bulk_post_is_refused_by_name(signed_in, reviewer, review, data, field):
    response = signed_in(reviewer).post(bulk_url(review), data)
    assert response.status_code == 302
    assert field in messages_of(response)[0]
    assert set(decisions(review).values()) == {Decision.NOT_REVIEWED}


def test_accept_recommendations_for_all_pending_or_the_selection(
    signed_in, reviewer, review, people
):
    client = signed_in(reviewer)
    url = bulk_url(review, "recommendations-accept")
    alice = item_of(review, people["alice"])
    response = client.post(url, {"accept": "selected", "items": [alice.uuid]})
    assert messages_of(response) == ["Accepted the recommendation for 1 person."]
    assert decisions(review)["Bob Stale"] == Decision.NOT_REVIEWED
    response = client.post(url, {"accept": "pending"})
    assert messages_of(response)[-1] == "Accepted the recommendation for 1 person."
    assert decisions(review) == {
        "Alice Active": Decision.APPROVE,
        "Bob Stale": Decision.DENY,
        "Carol New": Decision.NOT_REVIEWED,  # no information: left for a person to decide
    }
    sources = set(DecisionItem.objects.exclude(decision_source="").values_list("decision_source"))
    assert sources == {(DecisionSource.RECOMMENDATION,)}
    response = client.post(url, {"accept": "pending"})
    assert messages_of(response)[-1] == "No pending item with a recommendation to accept."


def test_accepting_recommendations_takes_the_typed_reason_and_may_require_it(
    admin_user, signed_in, reviewer, people
):
    group = GroupFactory(name="Strict")
    add_members(group, people["alice"])
    add_owners(group, reviewer)
    stage = start(admin_user, group, justification_required=True)
    client = signed_in(reviewer)
    url = bulk_url(stage, "recommendations-accept")

    refused = client.post(url, {"accept": "pending", "justification": " "})
    accepted = client.post(url, {"accept": "pending", "justification": "Signs in daily"})

    assert messages_of(refused) == ["Reason: This review requires a justification."]
    assert messages_of(accepted)[-1] == "Accepted the recommendation for 1 person."
    alice = item_of(stage, people["alice"])
    assert (alice.decision, alice.justification) == (Decision.APPROVE, "Signs in daily")


# --- Self-review ---------------------------------------------------------------------------------


def test_in_a_self_review_i_answer_for_my_own_access(admin_user, signed_in):
    me, other = person("Sam Self"), person("Other Member")
    group = GroupFactory(name="Finance share")
    add_members(group, me, other)
    stage = start(admin_user, group, stages=[StageDraft(ReviewerType.SELF, duration_days=14)])
    mine = item_of(stage, me)
    client = signed_in(me)
    response = client.post(
        decide_url(stage, mine), {"decision": Decision.DENY, "justification": "changed team"}
    )
    assert messages_of(response) == ["Denied Sam Self."]
    mine.refresh_from_db()
    assert (mine.decision, mine.reviewed_by_id) == (Decision.DENY, me.pk)
    theirs = item_of(stage, other)
    assert client.post(decide_url(stage, theirs), {"decision": "Deny"}).status_code == 404


def test_in_a_self_review_a_reassigned_item_never_goes_to_its_own_person(admin_user, signed_in):
    me, other = person("Sam Self"), person("Other Member")
    group = GroupFactory(name="Finance share")
    add_members(group, me, other)
    stage = start(admin_user, group, stages=[StageDraft(ReviewerType.SELF, duration_days=14)])
    mine, theirs = item_of(stage, me), item_of(stage, other)
    operations.items_reassign(admin_user, stage, me, other, "Sam is on leave")

    back = operations.items_reassign(admin_user, stage, other, me, "Sam is back")

    # My access stays with Other (only my own SELF link could let me decide it); theirs is mine.
    assert (back.moved, back.kept) == (1, 1)
    links = set(ItemReviewer.objects.filter(stage=stage).values_list("reviewer_id", "item_id"))
    assert links == {(other.pk, mine.pk), (me.pk, theirs.pk)}
    # A reassigned reviewer in a self-review decides someone else's access in the usual words.
    body = signed_in(me).get(panel_url(stage)).content.decode()
    assert "Yes, I need it" not in body
    assert ">Approve</button>" in body and ">Don't know</button>" in body
    response = signed_in(me).post(decide_url(stage, theirs), {"decision": Decision.DONT_KNOW})
    assert messages_of(response) == ["Marked “Don't know” for Other Member."]
    own = signed_in(other).get(panel_url(stage)).content.decode()
    assert ">Approve</button>" in own  # Sam's access, reassigned to Other
    assert decision_record(other, stage, Decision.APPROVE, items=[mine.pk]) == 1


# --- Query counts --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [10, 1_000])
def test_one_decision_runs_a_fixed_number_of_queries(
    signed_in, reviewer, admin_user, django_assert_num_queries, size
):
    stage = seed_review(size, reviewer, prefix=f"d{size}", admin=admin_user, now=NOW)
    item = DecisionItem.objects.filter(instance_id=stage.instance_id).first()
    client = signed_in(reviewer)
    pg = connection.vendor == "postgresql"
    # 1 session, 2 signed-in user, 3 the item through my links (and whether I have one in this
    # stage), 4 my assignment with its stage and instance, then the decision service: 5
    # savepoint, 6 open stage, 7 history INSERT ... SELECT, 8 item UPDATE, 9 assignments
    # UPDATE, 10-12 audit (chain head, digest rows, insert), 13 release; then 14 the row with
    # its item, decider, principal's details and my counters (the answer is the row alone: no
    # nav). PostgreSQL adds the assignments' lock and the audit chain's advisory lock.
    with django_assert_num_queries(14 + 2 * pg):
        response = client.post(decide_url(stage, item), {"decision": Decision.DENY}, **HTMX)
    assert response.status_code == 200
    assert pending(stage, reviewer) == size - 1
