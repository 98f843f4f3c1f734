"""The review engine: starting an instance and deciding in bulk, set-based (issue 5).

engine.start_N: `instance_start` over a group of N direct members and one owner (items,
owner links, fallbacks, the assignment, the message, the audit event), against the bare
INSERT ... SELECT of the same item rows and the same item-reviewer links (DESIGN.md).

engine.decide_N: `decision_record` with an `item_filter` (every item) by the owner, over N
items (history, items, counters, one digested audit event), against the bare item UPDATE plus
the history INSERT ... SELECT of the same rows.
"""

import datetime
import sys
import uuid

from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from accessreviews import schedule
from accessreviews.choices import Decision, ReviewerType, ScopeType
from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    DefinitionStage,
    ItemReviewer,
    ReviewDefinition,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
)
from accessreviews.models.instances import (
    ApplyResult,
    DecisionSource,
    InstanceStatus,
    Recommendation,
    ReviewerReason,
    StageStatus,
)
from accessreviews.services.decisions import decision_record
from accessreviews.services.start import instance_start
from accessreviews.snapshot import definition_snapshot
from benchmarks.data import create_users, uuid_sql
from benchmarks.harness import RUN, Benchmark, BenchmarkError, human_count
from directory.models import Group, GroupMembership, GroupOwner, User
from notifications.models import Message

UTC = datetime.UTC
T = {
    "item": DecisionItem._meta.db_table,
    "link": ItemReviewer._meta.db_table,
    "history": DecisionHistory._meta.db_table,
    "user": User._meta.db_table,
    "membership": GroupMembership._meta.db_table,
    "owner": GroupOwner._meta.db_table,
}


def _progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _tidy(*tables: str) -> None:
    """Between calls: dead rows vacuumed (PostgreSQL) or the WAL folded in (SQLite)."""
    if connection.in_atomic_block:
        return  # inside a test's transaction
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"VACUUM ANALYZE {table}")
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def seed_group(size: int, prefix: str):
    """A group of `size` direct members (one INSERT ... SELECT) and one owner."""
    _progress(f"seeding a group of {size} members")
    members = create_users(size, prefix=prefix)
    bounds = members.aggregate(first=Min("id"), last=Max("id"))
    group = Group.objects.create(name=f"Bench {prefix}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {T['membership']} (group_id, user_id, added_at) "
            f"SELECT %s, u.id, %s FROM {T['user']} u WHERE u.id BETWEEN %s AND %s",
            [group.pk, timezone.now(), bounds["first"], bounds["last"]],
        )
    owner = create_users(1, prefix=f"{prefix}-owner").get()
    GroupOwner.objects.create(group=group, user=owner)
    return group, owner


def owners_review(group, owner) -> ReviewDefinition:
    """A monthly review of the group by its owner, never due (the benchmark starts it)."""
    definition = ReviewDefinition.objects.create(
        name=f"Bench review of {group.name}",
        created_by=owner,
        scope_type=ScopeType.GROUP_MEMBERS,
        time_zone="Europe/Paris",
        start_date=datetime.date(2030, 1, 1),
        recurrence=schedule.Recurrence.MONTHLY,
    )
    definition.groups.set([group])
    DefinitionStage.objects.create(
        definition=definition,
        ordinal=1,
        duration_days=14,
        reviewer_type=ReviewerType.GROUP_OWNERS,
    )
    return definition


def delete_instances(instances) -> None:
    """Remove benchmark instances and what hangs off them (runtime rows have no CASCADE)."""
    ids = list(instances.values_list("pk", flat=True))
    Message.objects.filter(dedupe_key__startswith="review-started:").delete()
    ItemReviewer.objects.filter(stage__instance_id__in=ids).delete()
    ReviewerAssignment.objects.filter(stage__instance_id__in=ids).delete()
    DecisionItem.objects.filter(instance_id__in=ids).delete()
    ReviewStage.objects.filter(instance_id__in=ids).delete()
    ReviewInstance.objects.filter(pk__in=ids).delete()


# --- engine.start_N --------------------------------------------------------------------------


def start_benchmark(size: int = 100_000, *, repeat: int = 3, warmup: int = 0) -> Benchmark:
    state = {}

    def setup():
        group, owner = seed_group(size, prefix=f"start{size}")
        definition = owners_review(group, owner)
        plan = definition.schedule()
        state.update(
            group=group,
            owner=owner,
            definition=definition,
            occurrence=schedule.occurrence(plan, 0),
            snapshot=definition_snapshot(definition),
        )
        # The baseline writes into an instance and stage of its own (another occurrence).
        later = schedule.occurrence(plan, 1)
        instance = ReviewInstance.objects.create(
            definition=definition,
            resource_type="group",
            resource_id=group.pk,
            resource_name=group.name,
            occurrence_index=later.index,
            occurrence_start=later.start,
            start_at=later.start,
            end_at=later.end,
            status=InstanceStatus.IN_PROGRESS,
            current_stage=1,
            settings_snapshot=state["snapshot"],
        )
        stage = ReviewStage.objects.create(
            instance=instance,
            ordinal=1,
            start_at=later.start,
            end_at=later.end,
            status=StageStatus.IN_PROGRESS,
        )
        state.update(baseline_instance=instance, baseline_stage=stage)

    def reset(side):
        if side == RUN:
            delete_instances(
                ReviewInstance.objects.filter(definition=state["definition"], occurrence_index=0)
            )
        else:
            ItemReviewer.objects.filter(stage=state["baseline_stage"]).delete()
            DecisionItem.objects.filter(instance=state["baseline_instance"]).delete()
        _tidy(T["item"], T["link"])

    def run():
        return instance_start(
            state["definition"],
            state["occurrence"],
            "group",
            state["group"].pk,
            snapshot=state["snapshot"],
        )

    def baseline():
        instance, stage = state["baseline_instance"], state["baseline_stage"]
        look_back = instance.start_at - datetime.timedelta(days=30)
        at = connection.ops.adapt_datetimefield_value(look_back)
        items = f"""
            INSERT INTO {T["item"]} (
                uuid, instance_id, principal_type, principal_id, principal_name, principal_upn,
                principal_email, principal_user_type, sort_key, access_path, via_group_id,
                via_group_name, stage_ordinal, stage_decision, decision, decision_source,
                justification, recommendation, last_sign_in_at, apply_result, apply_detail,
                verification, version)
            SELECT {uuid_sql()}, %s, 'user', u.id, u.display_name, u.user_principal_name,
                   u.email, u.user_type, LOWER(u.display_name), 'direct', NULL, '', 1, %s, %s,
                   '', '', CASE WHEN u.last_sign_in_at >= %s THEN '{Recommendation.APPROVE}'
                   WHEN u.created_at >= %s THEN '{Recommendation.NO_INFO}'
                   ELSE '{Recommendation.DENY}' END, u.last_sign_in_at, %s, '', '', 0
            FROM {T["membership"]} m JOIN {T["user"]} u ON u.id = m.user_id
            WHERE m.group_id = %s"""
        # In the keyset index's order, as the service's SELECT DISTINCT happens to write them.
        links = f"""
            INSERT INTO {T["link"]} (stage_id, reviewer_id, sort_key, item_id, reason)
            SELECT %s, o.user_id, i.sort_key, i.id, %s
            FROM {T["item"]} i JOIN {T["owner"]} o ON o.group_id = %s
            WHERE i.instance_id = %s ORDER BY i.sort_key, i.id"""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                items,
                [
                    instance.pk,
                    Decision.NOT_REVIEWED,
                    Decision.NOT_REVIEWED,
                    at,
                    at,
                    ApplyResult.NEW,
                    state["group"].pk,
                ],
            )
            cursor.execute(links, [stage.pk, ReviewerReason.OWNER, state["group"].pk, instance.pk])
        return instance

    def check(side, instance):
        items = DecisionItem.objects.filter(instance=instance).count()
        links = ItemReviewer.objects.filter(item__instance=instance).count()
        if (items, links) != (size, size):
            raise BenchmarkError(f"{side} wrote {items} items and {links} links, not {size}")
        if side == RUN:
            instance.refresh_from_db()
            if instance.status != InstanceStatus.IN_PROGRESS:
                raise BenchmarkError(f"the started instance is {instance.status}")

    def teardown():
        delete_instances(ReviewInstance.objects.filter(definition=state["definition"]))

    return Benchmark(
        name=f"engine.start_{human_count(size)}",
        run=run,
        baseline=baseline,
        limit=3,
        setup=setup,
        reset=reset,
        check=check,
        teardown=teardown,
        repeat=repeat,
        warmup=warmup,
        items=size,
    )


# --- engine.decide_N -------------------------------------------------------------------------


def decide_benchmark(size: int = 50_000, *, repeat: int = 3, warmup: int = 0) -> Benchmark:
    state = {}

    def setup():
        group, owner = seed_group(size, prefix=f"decide{size}")
        definition = owners_review(group, owner)
        occurrence = schedule.occurrence(definition.schedule(), 0)
        instance = instance_start(definition, occurrence, "group", group.pk)
        stage = ReviewStage.objects.get(instance=instance, ordinal=1)
        state.update(owner=owner, definition=definition, instance=instance, stage=stage)

    def reset(side):
        # Back to undecided; history is append-only, so both sides keep adding to it.
        DecisionItem.objects.filter(instance=state["instance"]).update(
            stage_decision=Decision.NOT_REVIEWED,
            decision=Decision.NOT_REVIEWED,
            decision_source=DecisionSource.NONE,
            reviewed_by=None,
            reviewed_at=None,
            justification="",
        )
        ReviewerAssignment.objects.filter(stage=state["stage"]).update(pending=size)
        _tidy(T["item"], T["history"])

    def run():
        return decision_record(state["owner"], state["stage"], Decision.DENY, item_filter=Q())

    def baseline():
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        operation = DecisionHistory._meta.get_field("audit_operation").get_db_prep_value(
            uuid.uuid4(), connection
        )
        instance_id, actor = state["instance"].pk, state["owner"].pk
        history_columns = ", ".join(
            _column(DecisionHistory, name)
            for name in (
                "item",
                "stage_ordinal",
                "before",
                "after",
                "source",
                "justification",
                "actor",
                "at",
                "audit_operation",
            )
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {T['history']} ({history_columns}) "
                f"SELECT i.id, 1, i.decision, %s, %s, '', %s, %s, %s FROM {T['item']} i "
                "WHERE i.instance_id = %s",
                [Decision.DENY, DecisionSource.REVIEWER, actor, now, operation, instance_id],
            )
            cursor.execute(
                f"UPDATE {T['item']} SET decision = %s, stage_decision = %s, "
                f"decision_source = %s, {_column(DecisionItem, 'reviewed_by')} = %s, "
                "reviewed_at = %s, justification = '', version = version + 1 "
                "WHERE instance_id = %s",
                [Decision.DENY, Decision.DENY, DecisionSource.REVIEWER, actor, now, instance_id],
            )
            return cursor.rowcount

    def check(side, changed):
        denied = DecisionItem.objects.filter(
            instance=state["instance"], decision=Decision.DENY, reviewed_by=state["owner"]
        ).count()
        if (changed, denied) != (size, size):
            raise BenchmarkError(f"{side} decided {changed} items ({denied} denied), not {size}")
        if side == RUN:
            pending = ReviewerAssignment.objects.get(stage=state["stage"]).pending
            if pending != 0:
                raise BenchmarkError(f"the owner still has {pending} pending after deciding all")

    return Benchmark(
        name=f"engine.decide_{human_count(size)}",
        run=run,
        baseline=baseline,
        limit=3,
        setup=setup,
        reset=reset,
        check=check,
        repeat=repeat,
        warmup=warmup,
        items=size,
    )


def benchmarks(
    *, start_size: int = 100_000, decide_size: int = 50_000, repeat: int = 3
) -> list[Benchmark]:
    return [
        start_benchmark(start_size, repeat=repeat),
        decide_benchmark(decide_size, repeat=repeat),
    ]


def scale_benchmarks(*, repeat: int = 1) -> list[Benchmark]:
    """`make bench-scale`: the start of a 1,000,000-member review (DESIGN.md "Performance")."""
    return [start_benchmark(1_000_000, repeat=repeat)]
