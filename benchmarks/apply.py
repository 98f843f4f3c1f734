"""Apply (issue 5): removing N denied direct members of one group, set-based, in chunks.

apply.denials_N: `instance_apply` on an Applying instance whose N items are all denied direct
members of one group (APPLY_CHUNK_SIZE chunks, each: revocation requests INSERT ... SELECT,
revoke_grants, the join-back UPDATE, one audit event; then Applied and verification), against
the bare SQL writing what apply must write: the DELETE of those memberships plus the UPDATE
of those items' apply columns (DESIGN.md "Performance rules").
"""

import datetime
import sys

from django.db import connection, transaction
from django.utils import timezone

from accessreviews.models import DecisionItem, ReviewDefinition, ReviewInstance
from accessreviews.models.instances import ApplyResult, InstanceStatus
from accessreviews.services.apply import instance_apply
from accessreviews.snapshot import definition_snapshot
from benchmarks.data import create_users, uuid_sql
from benchmarks.harness import Benchmark, BenchmarkError, human_count
from directory.models import GrantRevocation, Group, GroupMembership

T_ITEM = DecisionItem._meta.db_table
T_MEMBERSHIP = GroupMembership._meta.db_table


def _progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _seed(size: int) -> dict:
    users = create_users(size, prefix=f"apply{size}")
    first, last = users.order_by("id").values_list("id", flat=True)[:1][0], users.latest("id").id
    group = Group.objects.create(name=f"Bench apply {size}")
    owner = users.earliest("id")
    definition = ReviewDefinition.objects.create(
        name=f"Bench apply {size}",
        created_by=owner,
        scope_type="groupMembers",
        time_zone="UTC",
        start_date=timezone.now().date(),
    )
    now = timezone.now()
    instance = ReviewInstance.objects.create(
        definition=definition,
        resource_type="group",
        resource_id=group.pk,
        resource_name=group.name,
        occurrence_index=0,
        occurrence_start=now,
        start_at=now,
        end_at=now + datetime.timedelta(days=14),
        status=InstanceStatus.APPLYING,
        settings_snapshot=definition_snapshot(definition),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {T_ITEM} (
                    uuid, instance_id, principal_type, principal_id, principal_name,
                    principal_upn, principal_email, principal_user_type, sort_key, access_path,
                    via_group_id, via_group_name, stage_ordinal, stage_decision, decision,
                    decision_source, justification, recommendation, last_sign_in_at,
                    apply_result, apply_detail, verification, version)
                SELECT {uuid_sql()}, %s, 'user', u.id, u.display_name, u.user_principal_name,
                       u.email, u.user_type, LOWER(u.display_name), 'direct', NULL, '', 1,
                       'Deny', 'Deny', 'Reviewer', '', 'NoInfoAvailable', NULL, 'New', '', '', 1
                FROM {users.model._meta.db_table} u WHERE u.id BETWEEN %s AND %s""",
            [instance.pk, first, last],
        )
    return {"users": (first, last), "group": group, "instance": instance}


def _reset(state: dict) -> None:
    """Memberships back, items and the instance back to Applying, no revocations."""
    group, instance = state["group"], state["instance"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {T_MEMBERSHIP} WHERE group_id = %s", [group.pk])
        cursor.execute(
            f"INSERT INTO {T_MEMBERSHIP} (group_id, user_id, added_at)"
            f" SELECT %s, principal_id, %s FROM {T_ITEM} WHERE instance_id = %s",
            [group.pk, timezone.now(), instance.pk],
        )
        DecisionItem.objects.filter(instance=instance).update(
            apply_result=ApplyResult.NEW,
            apply_detail="",
            applied_by=None,
            applied_at=None,
            verification_status="",
            verification="",
        )
        ReviewInstance.objects.filter(pk=instance.pk).update(
            status=InstanceStatus.APPLYING, applied_at=None, attempts=0, last_error=""
        )
        GrantRevocation.objects.all().delete()
    if connection.in_atomic_block:
        return  # inside a test's transaction: no VACUUM, no checkpoint
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in (T_MEMBERSHIP, T_ITEM, GrantRevocation._meta.db_table):
                cursor.execute(f"VACUUM ANALYZE {table}")
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def apply_benchmark(size: int = 50_000, *, repeat: int = 3, warmup: int = 0) -> Benchmark:
    state = {}

    def setup():
        _progress(f"seeding {size} denied direct members")
        state.update(_seed(size))

    def run():
        return instance_apply(state["instance"], timezone.now())

    def baseline():
        group, instance = state["group"], state["instance"]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {T_MEMBERSHIP} WHERE group_id = %s AND user_id IN ("
                f"SELECT principal_id FROM {T_ITEM} WHERE instance_id = %s AND decision = 'Deny')",
                [group.pk, instance.pk],
            )
            cursor.execute(
                f"UPDATE {T_ITEM} SET apply_result = %s, apply_detail = '', applied_by_id = NULL,"
                " applied_at = %s WHERE instance_id = %s AND decision = 'Deny'",
                [ApplyResult.APPLIED, timezone.now(), instance.pk],
            )
            return True

    def check(side, outcome):
        if outcome is not True:
            raise BenchmarkError(f"{side} did not apply the instance ({outcome!r})")
        left = GroupMembership.objects.filter(group=state["group"]).count()
        applied = DecisionItem.objects.filter(
            instance=state["instance"], apply_result=ApplyResult.APPLIED
        ).count()
        if left or applied != size:
            raise BenchmarkError(f"{side} left {left} memberships, applied {applied} of {size}")

    return Benchmark(
        name=f"apply.denials_{human_count(size)}",
        run=run,
        baseline=baseline,
        limit=3,
        setup=setup,
        reset=lambda side: _reset(state),
        check=check,
        repeat=repeat,
        warmup=warmup,
        items=size,
    )


def benchmarks(*, size: int = 50_000, repeat: int = 3) -> list[Benchmark]:
    return [apply_benchmark(size, repeat=repeat)]


def scale_benchmarks(*, repeat: int = 1) -> list[Benchmark]:
    """`make bench-scale`: applying 500,000 denials (reference G5's larger figure)."""
    return [apply_benchmark(500_000, repeat=repeat)]
