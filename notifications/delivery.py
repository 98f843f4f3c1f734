"""Email delivery: claim due messages, render them, send, and record what happened.

At-least-once and never lost: a claim moves rows to `sending` with a lease (a crashed sender's
rows come back when it runs out); each email carries a Message-ID derived from its dedupe key,
so the rare repeat after a lost acknowledgement is recognisably the same email. Failures retry
with backoff, then stay `failed` and are reported to admins in one batched message.
"""

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from notifications.models import DIGESTIBLE_KINDS, EmailStatus, Message
from notifications.rendering import Rendered, absolute, render_digest, render_message
from notifications.services import skip_reason_for

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
LEASE = timedelta(minutes=5)
# Minutes to wait after the 1st, 2nd, ... failed attempt; after the last, the row is `failed`.
BACKOFF_MINUTES = (1, 5, 15, 60, 240)
MAX_ATTEMPTS = len(BACKOFF_MINUTES) + 1


# Outcomes are written in one transaction per this many emails: a commit per email was a third
# of delivery's cost on PostgreSQL. A sender that dies loses at most these outcomes; their rows
# come back when the lease runs out and go out again with the same Message-ID (at-least-once).
WRITE_EVERY = 50


@dataclass
class DeliveryRun:
    sent: int = 0
    retried: int = 0
    failed: list[Message] = field(default_factory=list)
    skipped: int = 0
    emails: int = 0
    _outcomes: list[tuple[list[Message], dict]] = field(default_factory=list)

    def record(self, group: list[Message], fields: dict) -> None:
        self._outcomes.append((group, fields))
        if len(self._outcomes) >= WRITE_EVERY:
            self.write()

    def write(self) -> None:
        with transaction.atomic():
            for group, fields in self._outcomes:
                _ours(group).update(**fields)
        self._outcomes.clear()


def deliver_due(now=None, batch_size: int = BATCH_SIZE) -> DeliveryRun:
    """Deliver up to one batch of due messages. Safe to run concurrently and twice."""
    now = now or timezone.now()
    run = DeliveryRun()
    claimed = _claim(now, batch_size)
    if not claimed:
        return run
    by_recipient = defaultdict(list)
    for message in claimed:
        by_recipient[message.recipient_id].append(message)
    try:
        with get_connection(timeout=settings.EMAIL_TIMEOUT) as mail:
            for messages in by_recipient.values():
                _deliver_to_recipient(mail, messages, now, run)
    finally:
        run.write()
    if run.failed:
        from notifications.reports import report_delivery_failures

        report_delivery_failures(run.failed)
    return run


def _claim(now, batch_size: int) -> list[Message]:
    lease_until = now + LEASE
    with transaction.atomic():
        # A sender that died mid-send MAX_ATTEMPTS times is not a transient failure.
        Message.objects.due(now).filter(
            email_status=EmailStatus.SENDING, attempts__gte=MAX_ATTEMPTS
        ).update(
            email_status=EmailStatus.FAILED,
            lease_until=None,
            next_attempt_at=None,
            last_error="Gave up: the sender stopped during delivery on every attempt.",
        )
        due = Message.objects.due(now).order_by("next_attempt_at", "id")
        if connection.vendor == "postgresql":
            # Concurrent senders take different rows instead of waiting on each other.
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:batch_size])
        if not ids:
            return []
        # The conditional UPDATE is the claim everywhere (SQLite has no SKIP LOCKED; its
        # IMMEDIATE transactions already serialise claimers).
        Message.objects.due(now).filter(id__in=ids).update(
            email_status=EmailStatus.SENDING,
            lease_until=lease_until,
            next_attempt_at=lease_until,
            attempts=F("attempts") + 1,
        )
    return list(
        Message.objects.filter(
            id__in=ids, email_status=EmailStatus.SENDING, lease_until=lease_until
        )
        .select_related("recipient")
        .order_by("created_at", "id")
    )


def _deliver_to_recipient(mail, messages: list[Message], now, run: DeliveryRun) -> None:
    recipient = messages[0].recipient
    reason = skip_reason_for(recipient)
    if reason:
        _finish(run, messages, email_status=EmailStatus.SKIPPED, skip_reason=reason)
        run.skipped += len(messages)
        return
    digestible = [m for m in messages if m.kind in DIGESTIBLE_KINDS]
    groups = [[m] for m in messages if m.kind not in DIGESTIBLE_KINDS]
    if len(digestible) > 1:
        groups.append(digestible)
    else:
        groups += [[m] for m in digestible]
    extra = _first_email_extras(recipient)
    for group in groups:
        _send(mail, recipient, group, now, run, extra)
        extra = {}


def _first_email_extras(recipient) -> dict:
    """A set-password link in the first email to someone who cannot sign in yet."""
    if recipient.has_usable_password():
        return {}
    if Message.objects.filter(recipient=recipient, email_status=EmailStatus.SENT).exists():
        return {}
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(recipient.pk)),
            "token": default_token_generator.make_token(recipient),
        },
    )
    return {"set_password_url": absolute(path)}


def _send(mail, recipient, group: list[Message], now, run: DeliveryRun, extra: dict) -> None:
    try:
        rendered, message_id = _render(recipient, group, extra)
        email = EmailMultiAlternatives(
            rendered.subject,
            rendered.text,
            settings.DEFAULT_FROM_EMAIL,
            [recipient.email],
            headers={"Message-ID": message_id},
            connection=mail,
        )
        email.attach_alternative(rendered.html, "text/html")
        email.send()
    except Exception as error:  # noqa: BLE001 - a template or backend failure is one attempt
        logger.warning("email to user %s failed: %s", recipient.pk, error)
        _failed_attempt(group, now, error, run)
        return
    _finish(run, group, rendered=rendered, message_id=message_id, sent_at=timezone.now())
    run.sent += len(group)
    run.emails += 1


def _render(recipient, group: list[Message], extra: dict) -> tuple[Rendered, str]:
    if len(group) == 1:
        rendered = render_message(group[0].kind, group[0].context, recipient, **extra)
        return rendered, stable_message_id(group[0].dedupe_key)
    rendered = render_digest(group, recipient, **extra)
    return rendered, stable_message_id("digest:" + ",".join(sorted(m.dedupe_key for m in group)))


def stable_message_id(dedupe_key: str) -> str:
    """The same dedupe key always gives the same Message-ID (RFC 5322 msg-id)."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]}@{domain}>"


def _finish(
    run: DeliveryRun,
    group,
    *,
    email_status=EmailStatus.SENT,
    skip_reason="",
    rendered: Rendered = None,
    message_id="",
    sent_at=None,
) -> None:
    fields = {
        "email_status": email_status,
        "skip_reason": skip_reason,
        "lease_until": None,
        "next_attempt_at": None,
        "last_error": "",
    }
    if rendered is not None:
        fields.update(
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            email_message_id=message_id,
            sent_at=sent_at,
        )
    run.record(group, fields)


def _ours(group):
    # Only rows still under this run's lease: a sender whose lease ran out must not overwrite
    # the outcome of the one that took over.
    return Message.objects.filter(
        id__in=[m.id for m in group],
        email_status=EmailStatus.SENDING,
        lease_until=group[0].lease_until,
    )


def _failed_attempt(group, now, error: Exception, run: DeliveryRun) -> None:
    text = f"{type(error).__name__}: {error}"[:2000]
    attempts = group[0].attempts
    if attempts >= MAX_ATTEMPTS:
        run.record(
            group,
            {
                "email_status": EmailStatus.FAILED,
                "lease_until": None,
                "next_attempt_at": None,
                "last_error": text,
            },
        )
        for message in group:
            message.last_error = text
        run.failed += group
        return
    retry_at = now + timedelta(minutes=BACKOFF_MINUTES[attempts - 1])
    run.record(
        group,
        {
            "email_status": EmailStatus.PENDING,
            "lease_until": None,
            "next_attempt_at": retry_at,
            "last_error": text,
        },
    )
    run.retried += len(group)
