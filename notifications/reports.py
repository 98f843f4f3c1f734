"""Messages the notifications app sends on its own account: failures and the audit head."""

from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.urls import reverse
from django.utils import timezone

from directory import audit
from directory.capabilities import administrators, readers_of_everything
from notifications.models import Message, MessageKind
from notifications.services import messages_create_many

FAILURES_LISTED = 20


def _per_recipient_key(prefix: str):
    return Concat(Value(prefix), Cast("id", CharField()))


def report_delivery_failures(failed: list[Message]) -> int:
    """One message to each administrator about a batch of emails that finally failed."""
    failed = [m for m in failed if m.kind != MessageKind.DELIVERY_FAILURES]  # no loops
    if not failed:
        return 0
    first = min(m.id for m in failed)
    failures = [
        {
            "recipient": m.recipient.email or m.recipient.user_principal_name,
            "kind": m.get_kind_display(),
            "error": m.last_error[:300],
        }
        for m in failed[:FAILURES_LISTED]
    ]
    return messages_create_many(
        recipients=administrators(),
        kind=MessageKind.DELIVERY_FAILURES,
        context={
            "failed_count": len(failed),
            "failures": failures,
            "link": reverse("notifications:delivery-log") + "?status=failed",
        },
        dedupe_key=_per_recipient_key(f"delivery-failures:{first}:"),
    )


def publish_audit_head(now=None) -> int:
    """Once a day, send readers the audit chain's head: a copy outside the database that makes
    a rewrite of history detectable. Cheap to call every minute (one EXISTS when done)."""
    now = now or timezone.now()
    day = now.date().isoformat()
    prefix = f"audit-head:{day}:"
    if Message.objects.filter(kind=MessageKind.AUDIT_HEAD, dedupe_key__startswith=prefix).exists():
        return 0
    seq, head = audit.chain_head()
    return messages_create_many(
        recipients=readers_of_everything(),
        kind=MessageKind.AUDIT_HEAD,
        context={
            "seq": seq,
            "hash": head,
            "published_at": now.isoformat(),
            "link": reverse("directory:audit-list"),
        },
        dedupe_key=_per_recipient_key(prefix),
    )
