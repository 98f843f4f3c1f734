import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connections
from django.utils import timezone

from notifications import delivery, services
from notifications.kinds import KINDS
from notifications.models import EmailStatus, Message, MessageKind, SkipReason
from tests.factories import UserFactory
from tests.notifications.backends import OutageBackend

pytestmark = pytest.mark.django_db

OUTAGE = "tests.notifications.backends.OutageBackend"


def queue(recipient, kind=MessageKind.REVIEW_STARTED, key=None):
    key = key or f"{kind}:{recipient.pk}:{Message.objects.count()}"
    services.message_create(
        recipient=recipient, kind=kind, context=KINDS[kind].sample, dedupe_key=key
    )
    return Message.objects.get(dedupe_key=key)


def test_a_due_message_is_rendered_sent_and_its_copy_kept(reviewer):
    message = queue(reviewer)

    run = delivery.deliver_due()

    assert (run.sent, run.emails) == (1, 1)
    [email] = mail.outbox
    message.refresh_from_db()
    assert message.email_status == EmailStatus.SENT and message.sent_at is not None
    assert email.to == [reviewer.email]
    assert email.subject == message.subject and "Project Falcon" in message.subject
    assert email.body == message.body_text
    assert email.alternatives[0][0] == message.body_html
    assert email.extra_headers["Message-ID"] == delivery.stable_message_id(message.dedupe_key)
    assert message.email_message_id == email.extra_headers["Message-ID"]


def test_the_message_id_is_stable_per_dedupe_key():
    first = delivery.stable_message_id("review-started:1:2")
    assert first == delivery.stable_message_id("review-started:1:2")
    assert first != delivery.stable_message_id("review-started:1:3")
    assert first.startswith("<") and first.endswith("@localhost>")


def test_delivering_twice_sends_once(reviewer):
    queue(reviewer)
    delivery.deliver_due()
    run = delivery.deliver_due()
    assert (run.sent, len(mail.outbox)) == (0, 1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_send_each_message_once():
    recipients = UserFactory.create_batch(20)
    for person in recipients:
        queue(person, MessageKind.ACCESS_REMOVED)
    errors = []

    def deliver():
        try:
            delivery.deliver_due(batch_size=7)
            delivery.deliver_due(batch_size=7)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(e.to[0] for e in mail.outbox) == sorted(p.email for p in recipients)
    assert Message.objects.filter(email_status=EmailStatus.SENT).count() == 20


def test_a_failing_backend_retries_with_backoff_then_marks_failed(reviewer, admin_user, settings):
    settings.EMAIL_BACKEND = OUTAGE
    OutageBackend.down = True
    message = queue(reviewer)
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        run = delivery.deliver_due()
    message.refresh_from_db()
    assert run.retried == 1 and message.email_status == EmailStatus.PENDING
    assert message.attempts == 1 and "SMTPServerDisconnected" in message.last_error
    assert message.next_attempt_at == start + timedelta(minutes=1)

    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        assert delivery.deliver_due().retried == 0  # not due yet

    when = start
    for _ in range(delivery.MAX_ATTEMPTS - 1):
        when = Message.objects.get(pk=message.pk).next_attempt_at
        with time_machine.travel(when, tick=False):
            delivery.deliver_due()
    message.refresh_from_db()
    assert message.email_status == EmailStatus.FAILED
    assert message.attempts == delivery.MAX_ATTEMPTS
    report = Message.objects.get(kind=MessageKind.DELIVERY_FAILURES)
    assert report.recipient == admin_user
    assert report.context["failed_count"] == 1
    assert report.context["failures"][0]["recipient"] == reviewer.email


def test_an_smtp_outage_loses_nothing(reviewer, other_reviewer, settings):
    settings.EMAIL_BACKEND = OUTAGE
    OutageBackend.down = True
    queue(reviewer, MessageKind.ACCESS_REMOVED)
    queue(other_reviewer, MessageKind.ACCESS_REMOVED)
    delivery.deliver_due()
    assert mail.outbox == []

    OutageBackend.down = False
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):
        run = delivery.deliver_due()

    assert run.sent == 2 and len(mail.outbox) == 2
    assert not Message.objects.exclude(email_status=EmailStatus.SENT).exists()


def test_a_crashed_senders_rows_come_back_when_the_lease_runs_out(reviewer):
    message = queue(reviewer)
    now = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        email_status=EmailStatus.SENDING,
        lease_until=now + delivery.LEASE,
        next_attempt_at=now + delivery.LEASE,
        attempts=1,
    )
    assert delivery.deliver_due(now).sent == 0  # still leased to someone

    with time_machine.travel(now + delivery.LEASE + timedelta(seconds=1), tick=False):
        assert delivery.deliver_due().sent == 1
    assert Message.objects.get(pk=message.pk).attempts == 2


def test_several_digestible_messages_become_one_email(group_owner, reviewer):
    for n in range(3):
        queue(group_owner, MessageKind.REVIEW_STARTED, key=f"started:{n}")
    queue(group_owner, MessageKind.ACCESS_REMOVED, key="removed")
    queue(reviewer, MessageKind.REVIEW_STARTED, key="started:other")

    run = delivery.deliver_due()

    assert run.sent == 5 and run.emails == 3
    to_owner = [e for e in mail.outbox if e.to == [group_owner.email]]
    assert len(to_owner) == 2
    digest = Message.objects.filter(dedupe_key__startswith="started:", recipient=group_owner)
    assert digest.values("email_message_id").distinct().count() == 1
    assert all(m.email_status == EmailStatus.SENT for m in digest)


def test_a_recipient_disabled_since_the_message_was_written_is_skipped(reviewer):
    message = queue(reviewer)
    reviewer.is_active = False
    reviewer.save()
    delivery.deliver_due()
    message.refresh_from_db()
    assert (message.email_status, message.skip_reason) == (EmailStatus.SKIPPED, SkipReason.DISABLED)
    assert mail.outbox == []


def test_someone_without_a_password_gets_a_set_password_link_in_their_first_email(client):
    person = UserFactory()
    person.set_unusable_password()
    person.save()
    queue(person, MessageKind.ACCESS_REMOVED, key="first")
    delivery.deliver_due()
    queue(person, MessageKind.ACCESS_REMOVED, key="second")
    delivery.deliver_due()

    first, second = mail.outbox
    link = next(word for word in first.body.split() if "/accounts/reset/" in word)
    assert "/accounts/reset/" not in second.body
    path = link.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path, follow=True)
    assert response.status_code == 200
    form_page = response.redirect_chain[-1][0] if response.redirect_chain else "/" + path
    response = client.post(
        form_page, {"new_password1": "Tr0ub4dor&3-long", "new_password2": "Tr0ub4dor&3-long"}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password("Tr0ub4dor&3-long")
