import pytest
from django.db import transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat

from directory.models import User, UserType
from notifications import services
from notifications.kinds import KINDS
from notifications.models import EmailStatus, Message, MessageKind, SkipReason
from tests.factories import GuestFactory, UserFactory

pytestmark = pytest.mark.django_db

SAMPLE = KINDS[MessageKind.REVIEW_STARTED].sample


def create(recipient, key="k1", **options):
    return services.message_create(
        recipient=recipient,
        kind=MessageKind.REVIEW_STARTED,
        context=SAMPLE,
        dedupe_key=key,
        **options,
    )


def per_user_key(prefix):
    return Concat(Value(prefix), Cast("id", CharField()))


def test_a_message_is_an_inbox_row_waiting_for_delivery(reviewer):
    assert create(reviewer) is True
    message = Message.objects.get()
    assert message.recipient == reviewer and message.context == SAMPLE
    assert message.email_status == EmailStatus.PENDING and message.next_attempt_at is not None
    assert message.subject == "" and message.read_at is None  # nothing rendered yet


def test_the_same_dedupe_key_creates_nothing_the_second_time(reviewer):
    assert create(reviewer) is True
    assert create(reviewer) is False
    assert Message.objects.count() == 1


def test_a_context_missing_required_values_is_refused(reviewer):
    with pytest.raises(ValueError, match="due_at"):
        services.message_create(
            recipient=reviewer,
            kind=MessageKind.REVIEW_STARTED,
            context={"review_name": "x"},
            dedupe_key="k",
        )


@pytest.mark.parametrize(
    "make_user, options, reason",
    [
        (lambda: UserFactory(), {"email": False}, SkipReason.EMAIL_OFF),
        (lambda: UserFactory(email=""), {}, SkipReason.NO_ADDRESS),
        (lambda: UserFactory(is_active=False), {}, SkipReason.DISABLED),
        (lambda: GuestFactory(guest_invitation_accepted=False), {}, SkipReason.INVITATION_PENDING),
    ],
)
def test_messages_that_cannot_be_emailed_are_skipped_with_the_reason(make_user, options, reason):
    create(make_user(), **options)
    message = Message.objects.get()
    assert (message.email_status, message.skip_reason) == (EmailStatus.SKIPPED, reason)
    assert message.next_attempt_at is None


def test_an_accepted_guest_gets_email():
    create(GuestFactory(guest_invitation_accepted=True))
    assert Message.objects.get().email_status == EmailStatus.PENDING


def test_a_rolled_back_transaction_leaves_no_message(reviewer):
    with pytest.raises(RuntimeError), transaction.atomic():
        create(reviewer)
        raise RuntimeError("the caller's work failed")
    assert not Message.objects.exists()


def test_many_messages_are_one_statement_with_per_row_context(django_assert_num_queries):
    UserFactory.create_batch(30)
    UserFactory(email="")
    recipients = User.objects.all()
    context = {**SAMPLE, "reviewer_name": F("display_name")}

    with django_assert_num_queries(1):  # the INSERT ... SELECT
        created = services.messages_create_many(
            recipients=recipients,
            kind=MessageKind.REVIEW_STARTED,
            context=context,
            dedupe_key=per_user_key("started:1:"),
        )

    assert created == 31
    ann = User.objects.order_by("id").first()
    message = Message.objects.get(recipient=ann)
    assert message.context["reviewer_name"] == ann.display_name
    assert message.context["item_count"] == SAMPLE["item_count"]
    assert message.dedupe_key == f"started:1:{ann.id}"
    assert (
        Message.objects.filter(
            email_status=EmailStatus.SKIPPED, skip_reason=SkipReason.NO_ADDRESS
        ).count()
        == 1
    )
    assert Message.objects.exclude(uuid=None).values("uuid").distinct().count() == 31


def test_many_messages_skip_existing_keys_and_add_the_rest():
    UserFactory.create_batch(3)
    options = dict(
        recipients=User.objects.all(),
        kind=MessageKind.REMINDER,
        context=KINDS[MessageKind.REMINDER].sample,
        dedupe_key=per_user_key("reminder:1:"),
    )
    assert services.messages_create_many(**options) == 3
    UserFactory()
    assert services.messages_create_many(**options) == 1
    assert Message.objects.count() == 4


def test_many_messages_honour_every_skip_rule_in_sql():
    UserFactory(is_active=False)
    UserFactory(email="")
    GuestFactory(guest_invitation_accepted=False)
    GuestFactory(user_type=UserType.GUEST, guest_invitation_accepted=True)
    services.messages_create_many(
        recipients=User.objects.all(),
        kind=MessageKind.REMINDER,
        context=KINDS[MessageKind.REMINDER].sample,
        dedupe_key=per_user_key("r:"),
    )
    reasons = sorted(Message.objects.values_list("skip_reason", flat=True))
    assert reasons == [
        "",
        SkipReason.DISABLED,
        SkipReason.INVITATION_PENDING,
        SkipReason.NO_ADDRESS,
    ]


def test_a_nested_constant_context_round_trips(reviewer):
    context = {
        "failed_count": 1,
        "failures": [{"recipient": "a@b", "kind": "x", "error": "e"}],
        "link": "/x/",
    }
    services.message_create(
        recipient=reviewer, kind=MessageKind.DELIVERY_FAILURES, context=context, dedupe_key="f"
    )
    assert Message.objects.get().context == context


def test_marking_read_touches_only_my_unread_messages(reviewer, other_reviewer):
    create(reviewer, "a")
    create(reviewer, "b")
    create(other_reviewer, "c")
    assert services.message_mark_read(reviewer) == 2
    assert services.message_mark_read(reviewer) == 0
    assert Message.objects.filter(recipient=other_reviewer, read_at__isnull=True).exists()


def test_resending_a_skipped_message_queues_it_again_and_is_audited(admin_user, reviewer):
    from directory.models import AuditEvent

    create(reviewer, email=False)
    message = services.message_resend(admin_user, Message.objects.get())
    assert message.email_status == EmailStatus.PENDING and message.skip_reason == ""
    assert AuditEvent.objects.filter(action="notification.resent").exists()


def test_a_sent_message_cannot_be_resent(admin_user, reviewer):
    create(reviewer)
    Message.objects.update(email_status=EmailStatus.SENT, next_attempt_at=None)
    with pytest.raises(ValueError, match="failed or skipped"):
        services.message_resend(admin_user, Message.objects.get())


def test_a_commit_nudges_delivery_when_enabled(
    reviewer, settings, django_capture_on_commit_callbacks, monkeypatch
):
    calls = []
    monkeypatch.setattr(services, "_nudge_in_background", lambda: calls.append(1))
    settings.NOTIFICATIONS_NUDGE = True
    with django_capture_on_commit_callbacks(execute=True):
        create(reviewer)
    assert calls == [1]


def test_a_broker_that_is_down_never_breaks_the_nudge(monkeypatch):
    from notifications import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.deliver_messages, "apply_async", broker_down)
    services._nudge()  # must not raise


def test_a_nudge_never_makes_the_caller_wait_for_the_broker(monkeypatch):
    import threading
    import time

    released = threading.Event()

    def slow_broker():
        released.wait(5)

    monkeypatch.setattr(services, "_nudge", slow_broker)
    started = time.monotonic()
    services._nudge_in_background()
    services._nudge_in_background()  # one already in flight: this one is dropped
    assert time.monotonic() - started < 0.5
    released.set()
