"""Reminders to reviewers with decisions still to make (DESIGN.md flow 4, issue 5 "Reminders").

A stage's reminder points come from the settings snapshot: one per `reminder_days_before_end`
(N days before the stage's end, in the review's own zone), or, when that list is empty, one at
the stage's midpoint. Nothing is sent when reminders or email notifications are off.

Points are derived from the stage's current end, so extending a review moves them. A point is
named by what it is ("d3" = three days before the end, "mid") and by the end it is counted
from ("d3@<end as epoch seconds>"): the dedupe key (stage, that name, reviewer) is the same
for every tick before the end moves, so a point is sent once, and new after an extension: a
reminder counted from the old end no longer tells the truth, so reviewers get the new one.
After downtime only the latest point that has come is sent (a reviewer gets one reminder, not
a burst). Points at or before the stage's start are never sent: the start message has just
told the reviewer.

The tick reads the open stages once. A stage whose due point differs from the one it last
sent (`reminded_point`) is claimed by a conditional UPDATE of that column, so two ticks send
it once and a point already sent costs nothing more; then a fixed number of statements
whatever the number of reviewers: one INSERT ... SELECT of messages for assignments with
pending > 0 (ON CONFLICT DO NOTHING on the dedupe key backs the claim up), and one UPDATE of
contacted_at. An admin's "remind now" uses its own dedupe key per press and leaves the
schedule alone; it emails only when the review's email notifications are on.
"""

import datetime
import uuid
import zoneinfo
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from accessreviews.models import ReviewerAssignment, ReviewStage
from accessreviews.permissions import may_manage
from accessreviews.services.start import reviewer_messages_create
from directory import audit
from directory.models import User
from notifications.models import Message, MessageKind


@dataclass(frozen=True)
class Point:
    key: str
    at: datetime.datetime


def reminder_points(snapshot: dict, start_at, end_at) -> list[Point]:
    """The stage's reminder points, earliest first (none when reminders or email are off)."""
    settings = snapshot.get("settings", {})
    if not (settings.get("reminders_enabled") and settings.get("mail_notifications_enabled")):
        return []
    days = sorted(set(settings.get("reminder_days_before_end") or []), reverse=True)
    if not days:
        points = [Point("mid", start_at + (end_at - start_at) / 2)]
    else:
        zone = zoneinfo.ZoneInfo(snapshot.get("schedule", {}).get("time_zone") or "UTC")
        # Wall-clock arithmetic in the review's zone: "3 days before" keeps the local time
        # across a DST change, as the stage ends do.
        local_end = end_at.astimezone(zone)
        points = [
            Point(f"d{d}", (local_end - datetime.timedelta(days=d)).astimezone(datetime.UTC))
            for d in days
        ]
    return [p for p in points if p.at > start_at]


def due_point(snapshot: dict, stage: ReviewStage, now) -> Point | None:
    """The latest point that has come, while the stage is still open."""
    if stage.end_at <= now:
        return None
    come = [p for p in reminder_points(snapshot, stage.start_at, stage.end_at) if p.at <= now]
    return come[-1] if come else None


def sent_key(point: Point, end_at) -> str:
    """The point's name with the end it is counted from (at most 20 characters)."""
    return f"{point.key}@{int(end_at.timestamp())}"


def reminders_due(now=None) -> int:
    """Send the reminders whose point has come. Returns how many messages were new."""
    now = now or timezone.now()
    stages = (
        ReviewStage.objects.open()
        .filter(
            start_at__lt=now,
            end_at__gt=now,
            instance__settings_snapshot__settings__reminders_enabled=True,
            instance__settings_snapshot__settings__mail_notifications_enabled=True,
        )
        .select_related("instance")
    )
    sent = 0
    for stage in list(stages.order_by("end_at", "pk")):
        point = due_point(stage.instance.settings_snapshot, stage, now)
        if point is None:
            continue
        key = sent_key(point, stage.end_at)
        if key == stage.reminded_point:
            continue
        with transaction.atomic():
            claimed = ReviewStage.objects.filter(
                pk=stage.pk, reminded_point=stage.reminded_point
            ).update(reminded_point=key)
            if claimed:  # else another tick took it
                sent += _remind(stage, key, now, contacted_before=point.at)
    return sent


def reminder_send_now(actor, stage: ReviewStage, now=None) -> int:
    """An admin's reminder, now, to the stage's reviewers with pending items (audited)."""
    now = now or timezone.now()
    instance = stage.instance
    if not may_manage(actor, instance.definition):
        audit.record(actor, "authz.denied.instance_remind", instance, {})
        raise PermissionDenied("You may read this review but not manage it.")
    with transaction.atomic():
        is_open = ReviewStage.objects.open().filter(pk=stage.pk).exists()
        if not is_open:
            raise ValidationError("This stage is no longer open, so there is no one to remind.")
        key = f"now-{uuid.uuid4().hex[:12]}"
        sent = _remind(stage, key, now)
        if not sent:
            raise ValidationError("No reviewer of this stage has decisions left to make.")
        details = {"stage": stage.ordinal, "key": key, "messages": sent}
        audit.record(actor, "stage.reminded", instance, details)
    return sent


def _remind(stage: ReviewStage, key: str, now, contacted_before=None) -> int:
    """Messages for the assignments with pending items; contacted_at for those reached."""
    waiting = ReviewerAssignment.objects.filter(stage=stage, pending__gt=0)
    mine = waiting.filter(reviewer_id=OuterRef("id"))
    prefix = f"reminder:{stage.pk}:{key}:"
    created = reviewer_messages_create(
        stage.instance,
        stage,
        kind=MessageKind.REMINDER,
        recipients=User.objects.filter(pk__in=waiting.values("reviewer_id")),
        counts={
            "pending_count": Subquery(mine.values("pending")[:1]),
            "item_count": Subquery(mine.values("total")[:1]),
        },
        dedupe_prefix=prefix,
    )
    if created:
        reached = Message.objects.filter(
            dedupe_key=Concat(
                Value(prefix), Cast(OuterRef("reviewer_id"), CharField()), output_field=CharField()
            )
        )
        fresh = Q()
        if contacted_before is not None:
            # Only those this point reached now: an earlier run stamped a time after the point.
            fresh = Q(contacted_at__isnull=True) | Q(contacted_at__lt=contacted_before)
        waiting.filter(fresh, Exists(reached)).update(contacted_at=now)
    return created
