"""factory-boy factories for messages: valid rows in each email status."""

import factory
from django.utils import timezone

from notifications.delivery import stable_message_id
from notifications.kinds import KINDS
from notifications.models import EmailStatus, Message, MessageKind, SkipReason
from tests.factories import UserFactory


class MessageFactory(factory.django.DjangoModelFactory):
    """A pending, unread message of `kind` with that kind's sample context."""

    class Meta:
        model = Message

    recipient = factory.SubFactory(UserFactory)
    kind = MessageKind.REVIEW_STARTED
    context = factory.LazyAttribute(lambda o: dict(KINDS[o.kind].sample))
    dedupe_key = factory.Sequence(lambda n: f"test-message:{n}")
    created_at = factory.LazyFunction(timezone.now)
    email_status = EmailStatus.PENDING
    next_attempt_at = factory.LazyAttribute(lambda o: o.created_at)

    class Params:
        read = factory.Trait(read_at=factory.LazyFunction(timezone.now))
        sent = factory.Trait(
            email_status=EmailStatus.SENT,
            next_attempt_at=None,
            attempts=1,
            sent_at=factory.LazyFunction(timezone.now),
            subject=factory.LazyAttribute(lambda o: f"Stored subject of {o.dedupe_key}"),
            body_text="The text that was sent.\n\nSecond paragraph.\n",
            body_html="<p>The text that was sent.</p>",
            email_message_id=factory.LazyAttribute(lambda o: stable_message_id(o.dedupe_key)),
        )
        # Sent inside a digest: the stored copy is the digest's, not this message's own.
        in_digest = factory.Trait(
            sent=True,
            subject="You have 3 new access review notifications",
            email_message_id="<digest-of-three@contoso.example>",
        )
        failed = factory.Trait(
            email_status=EmailStatus.FAILED,
            next_attempt_at=None,
            attempts=6,
            last_error="SMTPRecipientsRefused: 550 mailbox unavailable",
        )
        skipped = factory.Trait(
            email_status=EmailStatus.SKIPPED,
            next_attempt_at=None,
            skip_reason=SkipReason.NO_ADDRESS,
        )
