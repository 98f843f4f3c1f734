"""The contract other apps use: create messages inside their own transaction.

Nothing is rendered here: a message is a row (kind + context), rendered when it is delivered,
so 10,000 messages cost one INSERT ... SELECT. Rows whose dedupe key already exists are left
alone, which makes every caller safe to run twice.
"""

import json
import logging
import threading
from collections.abc import Mapping

from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    Expression,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import Combinable, RawSQL
from django.db.models.fields.json import JSONField
from django.db.models.functions import Cast, JSONObject
from django.utils import timezone

from directory.models import User, UserType
from notifications.kinds import missing_keys
from notifications.models import EmailStatus, Message, SkipReason

logger = logging.getLogger(__name__)

# Why a recipient gets no email, as a condition on the user row (first match wins).
SKIP_RULES = [
    (Q(is_active=False) | Q(deleted_at__isnull=False), SkipReason.DISABLED),
    (Q(email=""), SkipReason.NO_ADDRESS),
    (Q(user_type=UserType.GUEST, guest_invitation_accepted=False), SkipReason.INVITATION_PENDING),
]


def skip_reason_for(user: User, *, email: bool = True) -> str:
    """The reason this user gets no email now, or "" when they should get one."""
    if not email:
        return SkipReason.EMAIL_OFF
    if not user.is_active or user.deleted_at is not None:
        return SkipReason.DISABLED
    if not user.email:
        return SkipReason.NO_ADDRESS
    if user.user_type == UserType.GUEST and not user.guest_invitation_accepted:
        return SkipReason.INVITATION_PENDING
    return ""


def _check_context(kind: str, keys) -> None:
    missing = missing_keys(kind, dict.fromkeys(keys))
    if missing:
        raise ValueError(f"{kind} messages need {', '.join(missing)} in their context")


def message_create(
    *, recipient: User, kind: str, context: dict, dedupe_key: str, email: bool = True
) -> bool:
    """One message; False when its dedupe key already existed (nothing changes then)."""
    created = messages_create_many(
        recipients=User.objects.filter(pk=recipient.pk),
        kind=kind,
        context=context,
        dedupe_key=Value(dedupe_key),
        email=email,
    )
    return created == 1


def _as_expression(value):
    if isinstance(value, Expression | Combinable):
        return value
    if isinstance(value, Mapping | list):
        # Nested JSON must reach json_object / jsonb_build_object as JSON, not as a string.
        function = "CAST(%s AS JSONB)" if connection.vendor == "postgresql" else "JSON(%s)"
        return RawSQL(function, [json.dumps(value)], output_field=JSONField())  # noqa: S611
    return Value(value)


def _new_uuid() -> RawSQL:
    if connection.vendor == "postgresql":
        return RawSQL("gen_random_uuid()", [])
    return RawSQL("lower(hex(randomblob(16)))", [])  # Django keeps SQLite UUIDs as 32 hex digits


INSERT_COLUMNS = (
    "uuid",
    "recipient_id",
    "kind",
    "context",
    "dedupe_key",
    "created_at",
    "email_status",
    "skip_reason",
    "attempts",
    "next_attempt_at",
    "last_error",
    "email_message_id",
    "subject",
    "body_text",
    "body_html",
)


def messages_create_many(
    *, recipients: QuerySet, kind: str, context: Mapping, dedupe_key: Expression, email: bool = True
) -> int:
    """One message per recipient row, as a single INSERT ... SELECT. Returns how many were new.

    `recipients` is a User queryset (filter it as you like, joins included); `context` maps
    each key to a constant or a per-row expression (F("display_name"), ...); `dedupe_key` is a
    per-row expression, e.g. Concat(Value("review-started:42:"), Cast("id", CharField())).
    """
    _check_context(kind, context)
    now = timezone.now()
    reasons = [When(condition, then=Value(reason)) for condition, reason in SKIP_RULES]
    reason = Value(SkipReason.EMAIL_OFF) if not email else Case(*reasons, default=Value(""))
    skipped = Q(pk__in=[]) if email else ~Q(pk__in=[])
    for condition, _ in SKIP_RULES:
        skipped |= condition
    columns = {
        "m_uuid": _new_uuid(),
        "m_recipient": F("id"),
        "m_kind": Value(kind),
        "m_context": JSONObject(**{key: _as_expression(v) for key, v in context.items()}),
        "m_dedupe": dedupe_key,
        "m_created": Value(now, output_field=DateTimeField()),
        "m_status": Case(
            When(skipped, then=Value(EmailStatus.SKIPPED)),
            default=Value(EmailStatus.PENDING),
            output_field=CharField(),
        ),
        "m_reason": reason,
        "m_attempts": Value(0),
        # A typed NULL: a CASE whose condition is always true compiles to its bare THEN value.
        "m_next": Case(
            When(skipped, then=Cast(Value(None), DateTimeField())),
            default=Value(now),
            output_field=DateTimeField(),
        ),
        "m_error": Value(""),
        "m_msgid": Value(""),
        "m_subject": Value(""),
        "m_text": Value(""),
        "m_html": Value(""),
    }
    select = recipients.order_by().annotate(**columns).values_list(*columns)
    sql, params = select.query.sql_with_params()
    # SQLite needs the WHERE to tell an upsert's ON from a join's (its documented ambiguity).
    insert = (
        f"INSERT INTO {Message._meta.db_table} ({', '.join(INSERT_COLUMNS)}) "
        f"SELECT * FROM ({sql}) AS recipients WHERE 1 = 1 ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(insert, params)
        created = cursor.rowcount
    if created:
        nudge_delivery_after_commit()
    return created


def nudge_delivery_after_commit() -> None:
    """After the caller commits, ask a worker to deliver now; the tick does it anyway."""
    from django.conf import settings

    if settings.NOTIFICATIONS_NUDGE:
        transaction.on_commit(_nudge_in_background)


# At most one nudge in flight per process, on its own thread: publishing to a broker that is
# down takes seconds (kombu's connect timeouts), and a web request must not wait for that.
_nudge_lock = threading.Lock()


def _nudge_in_background() -> None:
    if _nudge_lock.acquire(blocking=False):
        threading.Thread(target=_nudge_then_release, name="delivery-nudge", daemon=True).start()


def _nudge_then_release() -> None:
    try:
        _nudge()
    finally:
        _nudge_lock.release()


def _nudge() -> None:
    from notifications.tasks import deliver_messages

    try:
        deliver_messages.apply_async(retry=False, ignore_result=True)
    except Exception as error:  # noqa: BLE001 - any broker failure is fine to ignore here
        logger.info("delivery nudge not sent (the tick will deliver): %s", error)


def message_mark_read(user: User, message_ids=None) -> int:
    messages = Message.objects.for_recipient(user).unread()
    if message_ids is not None:
        messages = messages.filter(id__in=message_ids)
    return messages.update(read_at=timezone.now())


def message_resend(actor, message: Message) -> Message:
    """Queue a failed or skipped message again (the skip rules are checked again at delivery)."""
    from directory import audit

    if not message.can_resend:
        raise ValueError("Only failed or skipped messages can be resent.")
    now = timezone.now()
    with transaction.atomic():
        changed = Message.objects.filter(pk=message.pk, email_status=message.email_status).update(
            email_status=EmailStatus.PENDING,
            skip_reason="",
            attempts=0,
            next_attempt_at=now,
            last_error="",
            lease_until=None,
        )
        if not changed:  # delivery or another admin changed it meanwhile: nothing to record
            raise ValueError("The message changed meanwhile; reload and try again.")
        audit.record(
            actor,
            "notification.resent",
            ("message", str(message.uuid), f"{message.kind} to {message.recipient_id}"),
            {"previous_status": message.email_status, "kind": message.kind},
        )
        nudge_delivery_after_commit()
    message.refresh_from_db()
    return message
