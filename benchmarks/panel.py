"""The access panel (issue 6): its page and its bulk decisions, on reviews seeded set-based.

panel.page_N: one reviewer's review page (the view, through the test client) with N items,
against the same page with N/100 items.

panel.accept_N / panel.approve_matching_N: accepting recommendations, and "approve all
matching" a filter, over N items through the decision service, against the bare item UPDATE
plus the history INSERT ... SELECT of the same rows.
"""

import datetime as dt
import sys
import uuid

from django.db import connection, transaction
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accessreviews.choices import Decision
from accessreviews.drafts import DefinitionDraft, StageDraft
from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
)
from accessreviews.models.instances import DecisionSource, Recommendation
from accessreviews.schedule import Recurrence
from accessreviews.selectors_panel import PAGE_SIZE
from accessreviews.services.definitions import definition_create
from accessreviews.services.start import instances_start_due
from benchmarks.data import create_users
from benchmarks.harness import RUN, Benchmark, BenchmarkError, human_count
from directory.models import Group, GroupMembership, GroupOwner, User

STARTS_AT = dt.time(9, 0)


def _add_members(group: Group, users) -> None:
    """Every user of the queryset into the group, in one INSERT ... SELECT."""
    sql, params = users.order_by().values("id").query.sql_with_params()
    table = GroupMembership._meta.db_table
    columns = ", ".join(
        connection.ops.quote_name(GroupMembership._meta.get_field(name).column)
        for name in ("group", "user", "added_at")
    )
    added = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT %s, u.id, %s FROM ({sql}) u",
            [group.pk, added, *params],
        )


def _stale_half(users, since: dt.datetime) -> None:
    """Odd ids signed in recently (recommendation Approve), even ids never (Deny)."""
    table = User._meta.db_table
    first = users.order_by("id").values_list("id", flat=True).first()
    last = users.order_by("-id").values_list("id", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_sign_in_at = %s, created_at = %s"
            " WHERE id BETWEEN %s AND %s AND id %% 2 = 1",
            [since, since - dt.timedelta(days=400), first, last],
        )
        cursor.execute(
            f"UPDATE {table} SET created_at = %s WHERE id BETWEEN %s AND %s AND id %% 2 = 0",
            [since - dt.timedelta(days=400), first, last],
        )


def seed_review(size: int, reviewer: User, *, prefix: str, admin: User, now=None) -> ReviewStage:
    """A started one-stage group review of `size` members, all reviewed by `reviewer` (its
    owner); half recommended Approve, half Deny. Users, memberships and the start are
    set-based, so 100,000 items take seconds, not minutes."""
    now = now or timezone.now()
    with transaction.atomic():
        group = Group.objects.create(name=f"Bench panel {prefix}")
        GroupOwner.objects.create(group=group, user=reviewer)
        users = create_users(size, prefix) if size else User.objects.none()
        if size:
            _stale_half(users, now - dt.timedelta(days=1))
            _add_members(group, users)
    start = now - dt.timedelta(minutes=5)
    draft = DefinitionDraft(
        name=f"Panel {prefix}",
        description_for_reviewers="Keep only the people who still work on this.",
        group_ids=[group.pk],
        time_zone="UTC",
        start_date=start.date(),
        start_time=start.time().replace(second=0, microsecond=0),
        recurrence=Recurrence.ONE_TIME,
        stages=[StageDraft(duration_days=14)],
    )
    definition = definition_create(admin, draft, now=start - dt.timedelta(days=1))
    instances_start_due(now)
    instance = ReviewInstance.objects.get(definition=definition)
    return ReviewStage.objects.select_related("instance").get(instance=instance, ordinal=1)


# --- Shared ------------------------------------------------------------------------------------


def _progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _people(prefix: str) -> tuple[User, User]:
    """(a superuser to create the series, the reviewer who owns the group)."""
    admin = User.objects.create_superuser(f"admin.{prefix}@bench.example", display_name="Admin")
    reviewer = User.objects.create_user(f"reviewer.{prefix}@bench.example", display_name="Rev")
    return admin, reviewer


def _client(user: User) -> Client:
    # Outside the test runner: an allowed host, and HTTPS so SECURE_SSL_REDIRECT lets it in.
    client = Client(HTTP_HOST="localhost", secure=True)
    client.force_login(user, backend="directory.backends.DirectoryBackend")
    return client


def _panel_url(stage: ReviewStage, name: str = "review-panel") -> str:
    kwargs = {"uuid": stage.instance.uuid, "ordinal": stage.ordinal}
    return reverse(f"accessreviews:{name}", kwargs=kwargs)


def _reopen(stage: ReviewStage) -> None:
    """Every item back to NotReviewed and the counters to full: each call starts the same.
    History rows stay (append-only): both sides then append to the same growing table."""
    DecisionItem.objects.filter(instance_id=stage.instance_id).update(
        decision=Decision.NOT_REVIEWED,
        stage_decision=Decision.NOT_REVIEWED,
        decision_source=DecisionSource.NONE,
        reviewed_by=None,
        reviewed_at=None,
        justification="",
    )
    ReviewerAssignment.objects.filter(stage=stage).update(pending=F("total"))


def _bare(stage: ReviewStage, reviewer: User, after_sql: str, where_sql: str, params) -> int:
    """The floor: the history INSERT ... SELECT plus the item UPDATE of the same rows."""
    q = connection.ops.quote_name
    history, item = DecisionHistory._meta.db_table, DecisionItem._meta.db_table
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    operation = DecisionHistory._meta.get_field("audit_operation").get_db_prep_value(
        uuid.uuid4(), connection
    )
    source = (
        DecisionSource.RECOMMENDATION if after_sql == "recommendation" else DecisionSource.REVIEWER
    )
    where = f"instance_id = %s AND {where_sql}"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(history)} (item_id, stage_ordinal, {q('before')}, {q('after')},"
            " source, justification, actor_id, at, audit_operation)"
            f" SELECT id, %s, decision, {after_sql}, %s, '', %s, %s, %s FROM {q(item)}"
            f" WHERE {where}",
            [stage.ordinal, source, reviewer.pk, now, operation, stage.instance_id, *params],
        )
        count = cursor.rowcount
        cursor.execute(
            f"UPDATE {q(item)} SET decision = {after_sql}, stage_decision = {after_sql},"
            " decision_source = %s, reviewed_by_id = %s, reviewed_at = %s,"
            f" version = version + 1 WHERE {where}",
            [source, reviewer.pk, now, stage.instance_id, *params],
        )
    return count


def _decided(stage: ReviewStage, decision: str | None = None) -> int:
    items = DecisionItem.objects.filter(instance_id=stage.instance_id)
    if decision:
        return items.filter(decision=decision).count()
    return items.exclude(decision=Decision.NOT_REVIEWED).count()


# --- panel.page_N ------------------------------------------------------------------------------


def page_benchmark(size: int = 100_000, *, repeat: int = 3, warmup: int = 1) -> Benchmark:
    small = max(size // 100, PAGE_SIZE)
    state = {}

    def setup():
        for label, n in (("big", size), ("small", small)):
            _progress(f"seeding a review of {n} items")
            admin, reviewer = _people(f"page{label}{n}")
            stage = seed_review(n, reviewer, prefix=f"page{label}{n}", admin=admin)
            state[label] = (_client(reviewer), _panel_url(stage))

    def fetch(label):
        client, url = state[label]
        response = client.get(url, {"status": "pending"})
        return response.status_code, response.content.count(b" data-row ")

    def check(side, result):
        status, rows = result
        if status != 200 or rows != PAGE_SIZE:
            raise BenchmarkError(f"{side}: status {status} with {rows} rows, not {PAGE_SIZE}")

    bench = Benchmark(
        name=f"panel.page_{human_count(size)}",
        run=lambda: fetch("big"),
        baseline=lambda: fetch("small"),
        limit=1.5,
        setup=setup,
        check=check,
        repeat=max(repeat, 5),
        warmup=warmup,
    )
    bench.details.update(items=size, baseline_items=small, page_size=PAGE_SIZE)
    return bench


# --- panel.accept_N and panel.approve_matching_N -----------------------------------------------


def _bulk_benchmark(
    name: str,
    size: int,
    post: dict,
    bare_after: str,
    bare_where: str,
    bare_params,
    expect: str | None,
    *,
    repeat: int,
    warmup: int,
) -> Benchmark:
    state = {}

    def setup():
        _progress(f"seeding a review of {size} items for {name}")
        admin, reviewer = _people(f"{name}{size}")
        stage = seed_review(size, reviewer, prefix=f"{name}{size}", admin=admin)
        state.update(stage=stage, reviewer=reviewer, client=_client(reviewer))

    def run():
        url = _panel_url(state["stage"], post["url"])
        response = state["client"].post(url, {k: v for k, v in post.items() if k != "url"})
        return response.status_code

    def baseline():
        return _bare(state["stage"], state["reviewer"], bare_after, bare_where, bare_params)

    def check(side, outcome):
        if side == RUN and outcome != 302:
            raise BenchmarkError(f"{name}: the view answered {outcome}")
        decided = _decided(state["stage"], expect)
        if decided != size:
            raise BenchmarkError(f"{side} decided {decided} items, not {size}")

    return Benchmark(
        name=f"panel.{name}_{human_count(size)}",
        run=run,
        baseline=baseline,
        limit=3,
        setup=setup,
        reset=lambda side: _reopen(state["stage"]),
        check=check,
        repeat=repeat,
        warmup=warmup,
        items=size,
    )


def accept_benchmark(size: int = 50_000, *, repeat: int = 3, warmup: int = 1) -> Benchmark:
    """ "Accept recommendations" for all pending items (every item has Approve or Deny)."""
    return _bulk_benchmark(
        "accept",
        size,
        {"url": "recommendations-accept", "accept": "pending"},
        "recommendation",
        "stage_decision = %s AND recommendation IN (%s, %s)",
        [Decision.NOT_REVIEWED, Recommendation.APPROVE, Recommendation.DENY],
        None,
        repeat=repeat,
        warmup=warmup,
    )


def approve_matching_benchmark(
    size: int = 50_000, *, repeat: int = 3, warmup: int = 1
) -> Benchmark:
    """ "Approve all matching" the pending filter: the view's filter, re-evaluated at POST time."""
    return _bulk_benchmark(
        "approve_matching",
        size,
        {
            "url": "items-decide",
            "decision": Decision.APPROVE,
            "scope": "matching",
            "status": "pending",
        },
        f"'{Decision.APPROVE}'",
        "stage_decision = %s",
        [Decision.NOT_REVIEWED],
        Decision.APPROVE,
        repeat=repeat,
        warmup=warmup,
    )


def benchmarks(
    *, page_size: int = 100_000, bulk_size: int = 50_000, repeat: int = 3
) -> list[Benchmark]:
    return [
        page_benchmark(page_size, repeat=repeat),
        accept_benchmark(bulk_size, repeat=repeat),
        approve_matching_benchmark(bulk_size, repeat=repeat),
    ]


def scale_benchmarks(*, repeat: int = 1) -> list[Benchmark]:
    """`make bench-scale`: a reviewer's page among 1,000,000 items against 10,000 (the keyset
    and the counters keep it flat: reference G12)."""
    return [page_benchmark(1_000_000, repeat=repeat)]
