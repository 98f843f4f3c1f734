"""The access panel (issue 6): its page and its bulk decisions, on reviews seeded set-based.

panel.page_N: one reviewer's review page (the view, through the test client) with N items,
against the same page with N/100 items.

panel.accept_N / panel.approve_matching_N: accepting recommendations, and "approve all
matching" a filter, over N items through the decision service, against the bare item UPDATE
plus the history INSERT ... SELECT of the same rows.
"""

import datetime as dt

from django.db import connection, transaction
from django.utils import timezone

from accessreviews.drafts import DefinitionDraft, StageDraft
from accessreviews.models import ReviewInstance, ReviewStage
from accessreviews.schedule import Recurrence
from accessreviews.services.definitions import definition_create
from accessreviews.services.start import instances_start_due
from benchmarks.data import create_users
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
