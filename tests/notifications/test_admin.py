"""Messages in the Django admin: read-only rows, and a resend action through the service."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from directory.models import AuditEvent
from notifications.models import EmailStatus, Message
from tests.notifications.factories import MessageFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:notifications_message_changelist"


def statuses(*messages):
    return [Message.objects.get(pk=message.pk).email_status for message in messages]


def test_changelist_renders_for_an_admin_with_recipients(signed_in, admin_user, reviewer):
    MessageFactory(recipient=reviewer, failed=True)

    response = signed_in(admin_user).get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert "Rob Reviewer" in response.content.decode()


def test_changelist_filters_and_searches(signed_in, admin_user, reviewer, outsider):
    mine = MessageFactory(recipient=reviewer, failed=True)
    MessageFactory(recipient=outsider, failed=True)
    MessageFactory(recipient=reviewer, sent=True)

    response = signed_in(admin_user).get(
        reverse(CHANGELIST), {"email_status__exact": "failed", "q": "rob@contoso"}
    )

    assert list(response.context["cl"].result_list) == [mine]


@pytest.mark.parametrize("persona", ["reader", "outsider"])
def test_changelist_is_403_for_non_admins(request, signed_in, persona):
    response = signed_in(request.getfixturevalue(persona)).get(reverse(CHANGELIST))

    assert response.status_code == 403


@pytest.mark.parametrize("rows", [3, 30])
def test_changelist_runs_a_fixed_number_of_queries(
    signed_in, admin_user, django_assert_num_queries, rows
):
    MessageFactory.create_batch(rows, failed=True)
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles (capabilities), 4 COUNT for the
    # paginator (show_full_result_count=False spares a second COUNT of the whole table),
    # 5 whether tenant settings exist (the admin's app list asks each model admin whether
    # it may add), 6 the page of messages joined to their recipients.
    with django_assert_num_queries(6):
        response = client.get(reverse(CHANGELIST))

    assert response.status_code == 200


def test_messages_cannot_be_added_changed_or_deleted_in_the_admin(signed_in, admin_user):
    message = MessageFactory(failed=True)
    client = signed_in(admin_user)
    change = reverse("admin:notifications_message_change", args=[message.pk])

    assert client.get(reverse("admin:notifications_message_add")).status_code == 403
    assert client.get(change).status_code == 200  # read-only view
    client.post(change, {"subject": "tampered", "email_status": "sent"})
    assert (
        client.get(reverse("admin:notifications_message_delete", args=[message.pk])).status_code
        == 403
    )

    message.refresh_from_db()
    assert message.subject == "" and message.email_status == EmailStatus.FAILED


def test_resend_action_queues_failed_and_skipped_and_reports_the_rest(
    signed_in, admin_user, reviewer
):
    failed = MessageFactory(recipient=reviewer, failed=True)
    skipped = MessageFactory(recipient=reviewer, skipped=True)
    sent = MessageFactory(recipient=reviewer, sent=True)
    pending = MessageFactory(recipient=reviewer)

    response = signed_in(admin_user).post(
        reverse(CHANGELIST),
        {
            "action": "resend_selected",
            "_selected_action": [m.pk for m in (failed, skipped, sent, pending)],
        },
    )

    assert response.status_code == 302
    assert statuses(failed, skipped, sent, pending) == [
        EmailStatus.PENDING,
        EmailStatus.PENDING,
        EmailStatus.SENT,
        EmailStatus.PENDING,
    ]
    assert Message.objects.get(pk=failed.pk).attempts == 0
    events = AuditEvent.objects.filter(action="notification.resent")
    assert sorted(events.values_list("object_id", flat=True)) == sorted(
        [str(failed.uuid), str(skipped.uuid)]
    )
    notes = [str(note) for note in get_messages(response.wsgi_request)]
    assert notes == [
        "Resent 2 messages; 2 were not eligible (only failed or skipped messages can be resent)."
    ]
