"""Reads behind the inbox and the delivery log, each page in a fixed number of queries.

Both lists page by keyset over (created_at, id), newest first, so neither counts the table and
the query count does not grow with rows. The inbox is served by message_inbox_idx (recipient,
-created_at, -id); the delivery log by message_status_idx when filtered by status.
"""

import datetime
import logging
import re
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.template import TemplateDoesNotExist
from django.utils.http import url_has_allowed_host_and_scheme

from directory.models import User
from notifications.delivery import stable_message_id
from notifications.models import EmailStatus, Message, MessageKind
from notifications.rendering import Rendered, render_message, render_subject

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
STATUS_BADGES = {
    EmailStatus.PENDING: "text-bg-secondary",
    EmailStatus.SENDING: "text-bg-info",
    EmailStatus.SENT: "text-bg-success",
    EmailStatus.FAILED: "text-bg-danger",
    EmailStatus.SKIPPED: "text-bg-warning",
}
# What the link of each kind leads to, for the detail page's button.
LINK_LABELS = {
    MessageKind.REVIEW_STARTED: "Open the review",
    MessageKind.REMINDER: "Open the review",
    MessageKind.STAGE_STARTED: "Open the review",
    MessageKind.REVIEW_COMPLETED: "Open the review results",
    MessageKind.APPLY_NEEDS_CONFIRMATION: "Open the apply preview",
    MessageKind.DELIVERY_FAILURES: "Open the delivery log",
    MessageKind.AUDIT_HEAD: "Open the audit log",
}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# Columns a list never shows: the stored bodies can be large.
LIST_DEFERRED = ("body_text", "body_html")


# --- Keyset paging --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in a newest-first list: the (created_at, id) of a boundary row."""

    created_at: datetime.datetime
    id: int

    PATTERN = re.compile(r"^(\d{1,17})-(\d{1,18})$")

    @classmethod
    def of(cls, message: Message) -> str:
        micros = (message.created_at - EPOCH) // datetime.timedelta(microseconds=1)
        return f"{micros}-{message.id}"

    @classmethod
    def parse(cls, value) -> "Cursor | None":
        match = cls.PATTERN.match(value or "")
        if not match:
            return None
        instant = EPOCH + datetime.timedelta(microseconds=int(match[1]))
        return cls(instant, int(match[2]))

    def older(self) -> Q:
        return Q(created_at__lt=self.created_at) | Q(created_at=self.created_at, id__lt=self.id)

    def newer(self) -> Q:
        return Q(created_at__gt=self.created_at) | Q(created_at=self.created_at, id__gt=self.id)


@dataclass
class MessagePage:
    messages: list[Message]
    newer: str | None  # pass as ?after= for the newer page
    older: str | None  # pass as ?before= for the older page

    @property
    def is_first(self) -> bool:
        return self.newer is None


def keyset_page(messages: QuerySet, params) -> MessagePage:
    """One page of `messages`, newest first, from ?before= / ?after= cursors (bad ones ignored)."""
    before, after = Cursor.parse(params.get("before")), Cursor.parse(params.get("after"))
    if after is not None:
        rows = list(messages.filter(after.newer()).order_by("created_at", "id")[: PAGE_SIZE + 1])
        more_newer = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        return MessagePage(
            rows,
            newer=Cursor.of(rows[0]) if more_newer else None,
            older=Cursor.of(rows[-1]) if rows else None,
        )
    if before is not None:
        messages = messages.filter(before.older())
    rows = list(messages.order_by("-created_at", "-id")[: PAGE_SIZE + 1])
    more_older = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return MessagePage(
        rows,
        newer=Cursor.of(rows[0]) if rows and before is not None else None,
        older=Cursor.of(rows[-1]) if more_older else None,
    )


# --- What a message says ---------------------------------------------------------------------


def message_content(message: Message, recipient) -> Rendered:
    """What the recipient received if it was sent alone, else what they would receive now.

    Renders from the message's own context (no query); a kind whose templates are missing
    shows its name rather than failing the whole page.
    """
    if sent_alone(message):
        return Rendered(message.subject, message.body_text, message.body_html)
    return _render(message, recipient)


def _render(message: Message, recipient) -> Rendered:
    try:
        return render_message(message.kind, message.context, recipient)
    except TemplateDoesNotExist as missing:
        logger.warning("no email template for %s messages: %s", message.kind, missing)
        return Rendered(MessageKind(message.kind).label, "", "")


def sent_alone(message: Message) -> bool:
    """Whether the stored copy is this message's own email, not a digest listing several.

    A digest stores its own subject and body on each message it carries; only a message sent
    alone has the Message-ID derived from its own dedupe key.
    """
    return bool(message.subject) and message.email_message_id == stable_message_id(
        message.dedupe_key
    )


def sent_in_digest(message: Message) -> bool:
    return bool(message.subject) and not sent_alone(message)


def message_subject(message: Message, recipient) -> str:
    """The subject alone (the inbox defers the stored bodies, so reading them would query)."""
    if sent_alone(message):
        return message.subject
    try:
        return render_subject(message.kind, message.context, recipient)
    except TemplateDoesNotExist as missing:
        logger.warning("no email template for %s messages: %s", message.kind, missing)
        return MessageKind(message.kind).label


def without_signature(text: str) -> str:
    """The body without its email signature (the "-- " line and after): notes about email."""
    return re.split(r"^-- ?$", text, maxsplit=1, flags=re.M)[0].rstrip()


def local_link(path: str) -> str:
    """The message's link if it is a path on this portal, else "" (never another site)."""
    if not path or not path.startswith("/") or path.startswith("//"):
        return ""
    if not url_has_allowed_host_and_scheme(path, allowed_hosts=None):
        return ""
    return path


# --- Inbox ------------------------------------------------------------------------------------


def inbox_page(user: User, params, *, unread_only: bool = False) -> MessagePage:
    """The user's messages, newest first, each with `.shown_subject` and `.local_link`."""
    messages = Message.objects.for_recipient(user).defer(*LIST_DEFERRED)
    if unread_only:
        messages = messages.unread()
    page = keyset_page(messages, params)
    for message in page.messages:
        message.recipient = user  # the recipient is the reader: no query to fetch them
        message.shown_subject = message_subject(message, user)
        message.local_link = local_link(message.link)
    return page


def message_for_recipient(user: User, uuid) -> Message:
    """One of the user's own messages; anyone else's (an admin's too) is a 404."""
    message = get_object_or_404(Message.objects.for_recipient(user), uuid=uuid)
    message.recipient = user
    return message


def unread_count(user: User) -> int:
    # Counted from message_unread_idx, the partial index on recipient WHERE read_at IS NULL.
    return Message.objects.for_recipient(user).unread().count()


# --- Delivery log -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFilter:
    status: str = ""
    kind: str = ""
    recipient: str = ""
    created_from: datetime.datetime | None = None  # inclusive
    created_before: datetime.datetime | None = None  # exclusive

    @property
    def is_set(self) -> bool:
        return any((self.status, self.kind, self.recipient, self.created_from, self.created_before))


def _delivery_matching(filters: DeliveryFilter) -> QuerySet:
    messages = Message.objects.select_related("recipient").defer(*LIST_DEFERRED, "context")
    if filters.status:
        messages = messages.filter(email_status=filters.status)
    if filters.kind:
        messages = messages.filter(kind=filters.kind)
    if filters.recipient:
        messages = messages.filter(
            recipient__in=User.objects.search(filters.recipient).values("id")
        )
    if filters.created_from:
        messages = messages.filter(created_at__gte=filters.created_from)
    if filters.created_before:
        messages = messages.filter(created_at__lt=filters.created_before)
    return messages


def delivery_log_page(filters: DeliveryFilter, params) -> MessagePage:
    """Every message matching the filters, newest first, each with `.resendable`."""
    page = keyset_page(_delivery_matching(filters), params)
    for message in page.messages:
        message.resendable = message.can_resend
        # Split so the page may break a long address at its "@" rather than mid-word.
        address = message.recipient.email or message.recipient.user_principal_name
        message.address_parts = address.partition("@")
        message.status_badge = STATUS_BADGES.get(message.email_status, "text-bg-secondary")
        # A pending row with attempts behind it is waiting for its next try (backoff).
        retrying = message.email_status == EmailStatus.PENDING and message.attempts
        message.retry_at = message.next_attempt_at if retrying else None
    return page


def message_by_uuid(uuid) -> Message:
    return get_object_or_404(Message.objects.select_related("recipient"), uuid=uuid)
