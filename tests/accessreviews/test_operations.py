"""An admin's operations on a running instance: each effect re-read, counters, twice-safety."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from accessreviews.choices import Decision
from accessreviews.models import (
    DecisionHistory,
    DefinitionStage,
    ItemReviewer,
    ItemStageHistory,
    ReviewInstance,
)
from accessreviews.models.instances import DecisionSource, InstanceStatus, StageStatus
from accessreviews.services import operations as ops
from accessreviews.services.decisions import StageClosed, decision_record
from accessreviews.services.stages import stage_close
from accessreviews.tasks import tick
from directory import audit
from directory.models import AuditEvent, GroupOwner, UserType
from notifications.models import Message
from tests.accessreviews.running import (
    END,
    NOW,
    STAGE1_END,
    counters,
    decide,
    decide_stage1,
    item_of,
    items,
    links_of,
    make_people,
    opens_panel,
    person,
    recount,
    stage_of,
    start,
    state,
)
from tests.factories import GroupFactory, add_members, add_owners, nest

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    return make_people()


@pytest.fixture
def running(admin_user, people):
    return start(admin_user, people)


def event(action):
    return AuditEvent.objects.get(action=action)


# --- Stop ----------------------------------------------------------------------------------------


def test_stop_ends_the_instance_now_with_the_default_decision(admin_user, people, running):
    decide_stage1(running, people)

    result = ops.instance_stop(admin_user, running, NOW)

    assert result.ended and result.defaulted == 1
    running.refresh_from_db()
    assert (running.status, running.completed_at) == (InstanceStatus.COMPLETED, NOW)
    assert item_of(running, people, "dave").decision == Decision.DENY
    assert item_of(running, people, "carol").decision == Decision.DONT_KNOW
    assert stage_of(running, 1).status == StageStatus.COMPLETED
    assert stage_of(running, 2).status == StageStatus.NOT_STARTED  # never ran
    completed = event("instance.completed")
    assert completed.actor_label == admin_user.user_principal_name
    assert completed.details["stopped_early"] is True and completed.details["defaulted"] == 1
    assert audit.verify_chain().ok

    before = state()
    with pytest.raises(ValidationError, match="Only a running review"):
        ops.instance_stop(admin_user, running, NOW)
    assert state() == before


def test_a_reader_may_not_stop_and_it_is_audited(reader, running):
    with pytest.raises(PermissionDenied):
        ops.instance_stop(reader, running, NOW)

    assert ReviewInstance.objects.get(pk=running.pk).status == InstanceStatus.IN_PROGRESS
    assert AuditEvent.objects.filter(action="authz.denied.instance_stop").count() == 1


def test_stop_stage_closes_it_now_and_opens_the_next(admin_user, people, running):
    stage1 = decide_stage1(running, people)

    result = ops.stage_stop(admin_user, stage1, NOW)

    assert result.closed and result.moved == 4 and result.next_stage == 2
    stage1, stage2 = stage_of(running, 1), stage_of(running, 2)
    assert stage1.status == StageStatus.COMPLETED
    assert (stage2.status, stage2.start_at, stage2.end_at) == (StageStatus.IN_PROGRESS, NOW, END)
    assert ItemStageHistory.objects.filter(stage_ordinal=1).count() == 4
    assert counters(stage2) == recount(stage2) == {people["sam"].pk: (4, 4)}
    assert event("stage.closed").actor_label == admin_user.user_principal_name
    with pytest.raises(StageClosed):
        decide(people["oscar"], stage1, Decision.DENY, running, people, "dave")

    before = state()
    with pytest.raises(ValidationError, match="no longer open"):
        ops.stage_stop(admin_user, stage1, NOW)
    assert state() == before


def test_stopping_the_last_stage_ends_the_instance(admin_user, people, running):
    ops.stage_stop(admin_user, stage_of(running, 1), NOW)

    result = ops.stage_stop(admin_user, stage_of(running, 2), NOW + dt.timedelta(hours=1))

    assert result.ended
    assert ReviewInstance.objects.get(pk=running.pk).status == InstanceStatus.COMPLETED


# --- A next stage nobody moves on to -------------------------------------------------------------


def test_when_nobody_moves_on_the_instance_ends_at_once(admin_user, people):
    instance = start(admin_user, people, move_on=[Decision.APPROVE])
    stage1 = stage_of(instance, 1)
    decide(people["oscar"], stage1, Decision.DENY, instance, people, "alice", "bob")

    result = stage_close(stage1, STAGE1_END)

    assert result.closed and result.moved == 0 and result.instance_ended
    assert result.next_stage is None
    instance.refresh_from_db()
    assert (instance.status, instance.completed_at) == (InstanceStatus.COMPLETED, STAGE1_END)
    # Stage 2 never opened: no links, no assignments, no "stage started" message.
    stage2 = stage_of(instance, 2)
    assert stage2.status == StageStatus.NOT_STARTED
    assert not ItemReviewer.objects.filter(stage=stage2).exists()
    assert not Message.objects.filter(kind="stage_started").exists()
    # The default decision went to the never-decided items; decisions made stay.
    decided = {name: item_of(instance, people, name).decision for name in ("alice", "dave")}
    assert decided == {"alice": Decision.DENY, "dave": Decision.DENY}
    assert item_of(instance, people, "dave").decision_source == DecisionSource.DEFAULT
    assert Message.objects.filter(kind="review_completed").count() == 2

    before = state()
    for now in (STAGE1_END, END):
        tick(now=now)  # nothing left for the tick
    assert state()[:7] == before[:7]


def test_the_tick_ends_an_instance_nobody_moves_on_in(admin_user, people):
    instance = start(admin_user, people, move_on=[Decision.APPROVE])

    tick(now=STAGE1_END)
    tick(now=STAGE1_END)

    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert AuditEvent.objects.filter(action="instance.completed").count() == 1


# --- Reset ---------------------------------------------------------------------------------------


def test_reset_of_stage_one_puts_every_decision_back_to_not_reviewed(admin_user, people, running):
    stage1 = decide_stage1(running, people)

    assert ops.stage_reset(admin_user, stage1, NOW) == 3

    for item in items(running).values():
        assert (item.decision, item.stage_decision) == (Decision.NOT_REVIEWED,) * 2
        assert (item.decision_source, item.reviewed_by_id, item.justification) == ("", None, "")
    rows = DecisionHistory.objects.filter(justification=ops.RESET_NOTE)
    assert {(r.item.principal_id, r.before, r.after, r.actor_id) for r in rows} == {
        (people["alice"].pk, Decision.APPROVE, Decision.NOT_REVIEWED, admin_user.pk),
        (people["bob"].pk, Decision.DENY, Decision.NOT_REVIEWED, admin_user.pk),
        (people["carol"].pk, Decision.DONT_KNOW, Decision.NOT_REVIEWED, admin_user.pk),
    }
    assert counters(stage1) == recount(stage1) == {people["oscar"].pk: (4, 4)}
    reset = event("stage.reset")
    assert reset.details == {"stage": 1, "count": 3} and reset.detail_count == 3
    assert audit.verify_chain().ok
    # Reviewers decide again after a reset.
    decide(people["oscar"], stage1, Decision.APPROVE, running, people, "bob")
    assert counters(stage1) == recount(stage1) == {people["oscar"].pk: (4, 3)}

    before = state()
    ops.stage_reset(admin_user, stage_of(running, 1), NOW)
    ops.stage_reset(admin_user, stage_of(running, 1), NOW)
    assert state()[4] == before[4] + 1  # only bob's new decision was reset
    assert ops.stage_reset(admin_user, stage_of(running, 1), NOW) == 0


def test_reset_never_wipes_an_earlier_stages_decision(admin_user, people, running):
    oscar, sam = people["oscar"], people["sam"]
    stage1 = decide_stage1(running, people)
    stage_close(stage1, STAGE1_END)
    stage2 = stage_of(running, 2)
    decide(sam, stage2, Decision.DENY, running, people, "alice", "dave")
    stage1_history = list(ItemStageHistory.objects.order_by("pk").values())

    assert ops.stage_reset(admin_user, stage2, STAGE1_END) == 2

    alice, dave = item_of(running, people, "alice"), item_of(running, people, "dave")
    # alice is back to oscar's stage-1 Approve, with its source and reviewer; dave to nothing.
    assert (alice.decision, alice.stage_decision, alice.decision_source, alice.reviewed_by_id) == (
        Decision.APPROVE,
        Decision.NOT_REVIEWED,
        DecisionSource.REVIEWER,
        oscar.pk,
    )
    assert (dave.decision, dave.decision_source, dave.reviewed_by_id) == (
        Decision.NOT_REVIEWED,
        "",
        None,
    )
    assert item_of(running, people, "bob").decision == Decision.DENY
    assert list(ItemStageHistory.objects.order_by("pk").values()) == stage1_history
    assert counters(stage2) == recount(stage2) == {sam.pk: (4, 4)}


def test_reset_refuses_a_closed_stage(admin_user, people, running):
    stage1 = decide_stage1(running, people)
    stage_close(stage1, STAGE1_END)

    with pytest.raises(ValidationError, match="no longer open"):
        ops.stage_reset(admin_user, stage_of(running, 1), STAGE1_END)

    assert item_of(running, people, "alice").decision == Decision.APPROVE


# --- Extend --------------------------------------------------------------------------------------


def test_extend_moves_the_end_and_the_last_stages_end(admin_user, people, running):
    later = END + dt.timedelta(days=7)

    assert ops.instance_extend(admin_user, running, later, NOW) is True

    running.refresh_from_db()
    assert running.end_at == later
    assert stage_of(running, 2).end_at == later
    assert stage_of(running, 1).end_at == STAGE1_END
    assert event("instance.extended").details == {
        "from": "2026-12-15T08:00:00Z",
        "to": "2026-12-22T08:00:00Z",
        "last_stage": 2,
    }
    # The old end no longer ends it; the new one does.
    tick(now=STAGE1_END)
    tick(now=END)
    assert ReviewInstance.objects.get(pk=running.pk).status == InstanceStatus.IN_PROGRESS
    tick(now=later)
    assert ReviewInstance.objects.get(pk=running.pk).status == InstanceStatus.COMPLETED

    before = state()
    with pytest.raises(ValidationError, match="running"):
        ops.instance_extend(admin_user, running, later + dt.timedelta(days=1), later)
    assert state() == before


def test_extend_twice_to_the_same_end_changes_nothing(admin_user, people, running):
    later = END + dt.timedelta(days=2)
    ops.instance_extend(admin_user, running, later, NOW)
    before = state()

    assert ops.instance_extend(admin_user, running, later, NOW) is False

    assert state() == before


@pytest.mark.parametrize(
    "new_end, message",
    [
        (END - dt.timedelta(days=1), "after the current end"),
        (END + dt.timedelta(days=400), "At most a year"),
    ],
)
def test_extend_refuses_an_earlier_or_absurd_end_naming_the_field(
    admin_user, people, running, new_end, message
):
    with pytest.raises(ValidationError) as refused:
        ops.instance_extend(admin_user, running, new_end, NOW)

    assert message in refused.value.message_dict["new_end"][0]
    assert ReviewInstance.objects.get(pk=running.pk).end_at == END


# --- Reassign ------------------------------------------------------------------------------------


def test_reassign_moves_the_undecided_items_with_the_reason(admin_user, people, running, client):
    oscar, olga = people["oscar"], people["olga"]
    stage1 = stage_of(running, 1)
    decide(oscar, stage1, Decision.APPROVE, running, people, "alice")

    result = ops.items_reassign(admin_user, stage1, oscar, olga, "  Oscar is on leave ")

    assert (result.moved, result.kept) == (3, 0)
    assert links_of(stage1) == {
        (oscar.pk, people["alice"].pk, "owner"),  # decided: stays with who decided it
        *((olga.pk, people[n].pk, "reassigned") for n in ("bob", "carol", "dave")),
    }
    assert counters(stage1) == recount(stage1) == {oscar.pk: (1, 0), olga.pk: (3, 3)}
    assert event("stage.items_reassigned").details == {
        "stage": 1,
        "from": oscar.user_principal_name,
        "to": olga.user_principal_name,
        "reason": "Oscar is on leave",
        "moved": 3,
        "kept": 0,
        "messages": 1,
    }
    # olga is told, with the items now hers.
    (told,) = Message.objects.filter(kind="review_started", recipient=olga)
    assert (told.context["item_count"], told.context["stage"]) == (3, 1)
    assert opens_panel(client, told)
    # The new reviewer decides; the old one no longer can.
    decide(olga, stage1, Decision.DENY, running, people, "bob")
    assert decide(oscar, stage1, Decision.DENY, running, people, "carol") == 0
    assert counters(stage1) == recount(stage1) == {oscar.pk: (1, 0), olga.pk: (3, 2)}

    before = state()
    with pytest.raises(ValidationError) as refused:
        ops.items_reassign(admin_user, stage_of(running, 1), oscar, olga, "again")
    assert "from_reviewer" in refused.value.message_dict
    assert state() == before


def test_reassign_never_gives_a_person_their_own_access(admin_user, people, running):
    oscar, alice = people["oscar"], people["alice"]
    stage1 = stage_of(running, 1)

    result = ops.items_reassign(admin_user, stage1, oscar, alice, "Alice leads the team")

    assert (result.moved, result.kept) == (3, 1)
    assert (oscar.pk, alice.pk, "owner") in links_of(stage1)
    assert (alice.pk, alice.pk, "reassigned") not in links_of(stage1)
    assert counters(stage1) == recount(stage1) == {oscar.pk: (1, 1), alice.pk: (3, 3)}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"reason": "  "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"to": "oscar"}, "to_reviewer"),
        ({"to": "disabled"}, "to_reviewer"),
        ({"to": "invited"}, "to_reviewer"),
        ({"from": "olga", "to": "sam"}, "from_reviewer"),
    ],
)
def test_reassign_refuses_bad_input_naming_the_field(admin_user, people, running, change, field):
    people["disabled"] = person("disabled", is_active=False)
    people["invited"] = person("invited", user_type=UserType.GUEST, guest_invitation_accepted=False)
    before = state()

    with pytest.raises(ValidationError) as refused:
        ops.items_reassign(
            admin_user,
            stage_of(running, 1),
            people[change.get("from", "oscar")],
            people[change.get("to", "olga")],
            change.get("reason", "on leave"),
        )

    assert field in refused.value.message_dict
    assert state()[:-1] == before[:-1]


# --- Re-resolve ----------------------------------------------------------------------------------


def test_reresolve_follows_the_directory_and_keeps_decisions(admin_user, people, running, client):
    oscar, olga, fiona = people["oscar"], people["olga"], people["fiona"]
    stage1 = stage_of(running, 1)
    decide(oscar, stage1, Decision.APPROVE, running, people, "alice")
    group = GroupOwner.objects.get(user=oscar).group
    GroupOwner.objects.filter(user=oscar).delete()
    add_owners(group, olga)

    result = ops.reviewers_reresolve(admin_user, stage1)

    assert result.added == {"owner": 4, "fallback": 0}
    assert result.removed == {"owner": 3, "fallback": 0}
    assert links_of(stage1) == {
        (oscar.pk, people["alice"].pk, "owner"),  # he decided it: kept
        *((olga.pk, people[n].pk, "owner") for n in ("alice", "bob", "carol", "dave")),
    }
    alice = item_of(running, people, "alice")
    assert (alice.decision, alice.reviewed_by_id) == (Decision.APPROVE, oscar.pk)
    assert counters(stage1) == recount(stage1) == {oscar.pk: (1, 0), olga.pk: (4, 3)}
    assert event("stage.reviewers_reresolved").details["added"] == {"owner": 4, "fallback": 0}
    # olga is new to the stage and is told; oscar is not told again.
    assert [
        m.recipient_id for m in Message.objects.filter(kind="review_started").order_by("pk")
    ] == [
        oscar.pk,
        olga.pk,
    ]
    assert opens_panel(client, Message.objects.get(kind="review_started", recipient=olga))

    # No owner left: the fallback covers the items without a reviewer, the decided one stays.
    GroupOwner.objects.filter(user=olga).delete()
    result = ops.reviewers_reresolve(admin_user, stage1)
    assert result.removed["owner"] == 4 and result.added["fallback"] == 3
    assert links_of(stage1) == {
        (oscar.pk, people["alice"].pk, "owner"),
        *((fiona.pk, people[n].pk, "fallback") for n in ("bob", "carol", "dave")),
    }
    assert counters(stage1) == recount(stage1) == {oscar.pk: (1, 0), fiona.pk: (3, 3)}

    # An owner again: the fallback steps back.
    add_owners(group, olga)
    ops.reviewers_reresolve(admin_user, stage1)
    assert {r for r, _, _ in links_of(stage1)} == {oscar.pk, olga.pk}

    before = state()
    assert not ops.reviewers_reresolve(admin_user, stage1).changed
    assert state() == before


def test_reresolve_leaves_reassigned_items_alone(admin_user, people, running):
    oscar, olga = people["oscar"], people["olga"]
    stage1 = stage_of(running, 1)
    ops.items_reassign(admin_user, stage1, oscar, olga, "on leave")

    result = ops.reviewers_reresolve(admin_user, stage1)

    assert not result.changed
    assert {r for r, _, _ in links_of(stage1)} == {olga.pk}


# --- Fixed statements whatever the size ----------------------------------------------------------


@pytest.mark.parametrize("size", [3, 30])
def test_reset_and_reassign_run_a_fixed_number_of_queries(
    admin_user, people, size, django_assert_num_queries
):
    names = tuple(f"m{n}" for n in range(size))
    people.update({n: person(n) for n in names})
    instance = start(admin_user, people, members=names)
    stage1 = stage_of(instance, 1)
    decide(people["oscar"], stage1, Decision.DENY, instance, people, *names)
    stage1 = stage_of(instance, 1)
    pg = connection.vendor == "postgresql"
    # may_manage (definition's groups); savepoint, the locked open stage, history
    # INSERT ... SELECT, items UPDATE, missing assignments INSERT, counters UPDATE, empty
    # assignments DELETE, audit (chain head, digest rows, insert), release.
    # PostgreSQL adds the audit chain's advisory lock.
    with django_assert_num_queries(12 + pg):
        assert ops.stage_reset(admin_user, stage1, NOW) == size
    # may_manage, the new reviewer's eligibility; savepoint, locked stage, any undecided, links
    # INSERT ... SELECT, handed-over DELETE, kept COUNT, missing assignments INSERT, counters
    # UPDATE, empty DELETE, the new reviewer's message INSERT ... SELECT, audit (chain head,
    # insert), release.
    with django_assert_num_queries(15 + pg):
        ops.items_reassign(admin_user, stage1, people["oscar"], people["olga"], "leave")


# --- Concurrency (PostgreSQL) --------------------------------------------------------------------


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("operation", ["stage_stop", "instance_stop"])
def test_stopping_and_concurrent_decisions_do_not_deadlock(admin_user, operation):
    people = make_people()
    names = tuple(f"m{n}" for n in range(40))
    people.update({n: person(n) for n in names})
    GroupOwner.objects.create(group=GroupFactory(name="Spare"), user=people["olga"])
    instance = start(admin_user, people, members=names)
    stage1 = stage_of(instance, 1)
    ids = sorted(items(instance)[people[n].pk].pk for n in names)
    errors, barrier = [], threading.Barrier(3)

    def deciding(decision):
        try:
            barrier.wait()
            for offset in range(0, 40, 5):
                try:
                    decision_record(
                        people["oscar"], stage1, decision, items=ids[offset : offset + 10]
                    )
                except StageClosed:
                    return
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    def stopping():
        try:
            barrier.wait()
            if operation == "stage_stop":
                ops.stage_stop(admin_user, stage_of(instance, 1))
            else:
                ops.instance_stop(admin_user, ReviewInstance.objects.get(pk=instance.pk))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=deciding, args=(Decision.APPROVE,)),
        threading.Thread(target=deciding, args=(Decision.DENY,)),
        threading.Thread(target=stopping),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert stage_of(instance, 1).status == StageStatus.COMPLETED
    # Every decision committed before the close is in the stage's history; none came after
    # (the instance's default decisions come after the close, by design).
    history = dict(
        ItemStageHistory.objects.filter(stage_ordinal=1).values_list("item_id", "decision")
    )
    for item in items(instance).values():
        rows = DecisionHistory.objects.filter(item=item, stage_ordinal=1)
        last = rows.exclude(source=DecisionSource.DEFAULT).order_by("id").last()
        assert history[item.pk] == (last.after if last else Decision.NOT_REVIEWED)
    # The counters the last decisions left: stage 2's after a stop (its items were reset for
    # it), stage 1's when the instance ended with it.
    last = stage_of(instance, 2 if operation == "stage_stop" else 1)
    assert counters(last) == recount(last)
    assert audit.verify_chain().ok


def test_reresolve_reads_who_is_named_from_the_snapshot_not_the_edited_series(
    admin_user, people, running
):
    oscar, olga, fiona = people["oscar"], people["olga"], people["fiona"]
    stage1 = stage_of(running, 1)
    DefinitionStage.objects.get(definition=running.definition, ordinal=1).fallback_users.set([olga])
    GroupOwner.objects.filter(user=oscar).delete()

    ops.reviewers_reresolve(admin_user, stage1)

    assert {r for r, _, _ in links_of(stage1)} == {fiona.pk}


def test_reresolve_of_selected_reviewers_follows_their_groups_members(admin_user, people, running):
    stage1 = stage_of(running, 1)
    ops.stage_stop(admin_user, stage1, NOW)
    stage2 = stage_of(running, 2)
    sam, rita = people["sam"], people["rita"]
    ReviewInstance.objects.filter(pk=running.pk).update(
        settings_snapshot={
            **running.settings_snapshot,
            "stages": [
                running.settings_snapshot["stages"][0],
                {**running.settings_snapshot["stages"][1], "reviewer_user_ids": [rita.pk]},
            ],
        }
    )

    result = ops.reviewers_reresolve(admin_user, stage_of(running, 2))

    assert result.added["selected"] == 4 and result.removed["selected"] == 4
    assert {r for r, _, _ in links_of(stage2)} == {rita.pk}
    assert counters(stage2) == recount(stage2) == {rita.pk: (4, 4)}
    assert sam.pk not in counters(stage2)


def _snapshot_stage(instance, ordinal, **changes):
    snapshot = instance.settings_snapshot
    stages = [
        {**spec, **changes} if spec["ordinal"] == ordinal else spec for spec in snapshot["stages"]
    ]
    ReviewInstance.objects.filter(pk=instance.pk).update(
        settings_snapshot={**snapshot, "stages": stages}
    )


def test_reresolve_keeps_reviewers_who_come_through_a_nested_group(admin_user, people, running):
    stage1 = stage_of(running, 1)
    ops.stage_stop(admin_user, stage1, NOW)
    sam, rita = people["sam"], people["rita"]
    outer, inner = GroupFactory(name="Approvers"), GroupFactory(name="Approvers EU")
    nest(outer, inner)
    add_members(inner, rita)
    _snapshot_stage(running, 2, reviewer_user_ids=[], reviewer_group_ids=[outer.pk])

    result = ops.reviewers_reresolve(admin_user, stage_of(running, 2))

    # rita reviews through Approvers > Approvers EU: added, not stripped.
    assert result.added["selected"] == 4 and result.removed["selected"] == 4
    stage2 = stage_of(running, 2)
    assert {r for r, _, _ in links_of(stage2)} == {rita.pk}
    assert counters(stage2) == recount(stage2) == {rita.pk: (4, 4)}
    assert sam.pk not in counters(stage2)
    before = state()
    assert not ops.reviewers_reresolve(admin_user, stage2).changed
    assert state() == before


def test_reresolve_falls_back_to_a_nested_fallback_groups_members(admin_user, people, running):
    oscar, olga = people["oscar"], people["olga"]
    stage1 = stage_of(running, 1)
    outer, inner = GroupFactory(name="Helpdesk"), GroupFactory(name="Helpdesk night")
    nest(outer, inner)
    add_members(inner, olga)
    _snapshot_stage(running, 1, fallback_user_ids=[], fallback_group_ids=[outer.pk])
    GroupOwner.objects.filter(user=oscar).delete()

    result = ops.reviewers_reresolve(admin_user, stage_of(running, 1))

    assert result.added["fallback"] == 4
    assert {r for r, _, _ in links_of(stage1)} == {olga.pk}
    assert counters(stage1) == recount(stage1) == {olga.pk: (4, 4)}


@pytest.mark.parametrize("size", [3, 30])
def test_reresolve_and_extend_run_a_fixed_number_of_queries(
    admin_user, people, size, django_assert_num_queries
):
    names = tuple(f"m{n}" for n in range(size))
    people.update({n: person(n) for n in names})
    instance = start(admin_user, people, members=names)
    stage1 = stage_of(instance, 1)
    group = GroupOwner.objects.get(user=people["oscar"]).group
    add_owners(group, people["olga"])
    pg = connection.vendor == "postgresql"
    # may_manage; savepoint, locked stage, last link id, owners INSERT ... SELECT, owners and
    # fallbacks DELETE, fallbacks INSERT ... SELECT, missing assignments INSERT, counters
    # UPDATE, empty DELETE, newcomers' messages INSERT ... SELECT, audit (chain head, insert),
    # release. PostgreSQL adds the audit chain's advisory lock.
    with django_assert_num_queries(15 + pg):
        assert ops.reviewers_reresolve(admin_user, stage1).added["owner"] == size
    # The instance's definition and its groups (may_manage); savepoint, status and end, the
    # instance's conditional UPDATE, the last stage's UPDATE, audit (chain head, insert),
    # release. PostgreSQL adds the open stage's lock and the chain's lock.
    with django_assert_num_queries(9 + 2 * pg):
        assert ops.instance_extend(admin_user, instance, END + dt.timedelta(days=1), NOW)
