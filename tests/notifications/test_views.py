"""The inbox (each person's own messages) and the admins' delivery log (state re-read)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from directory.models import AuditEvent
from notifications.context_processors import UnreadMessages
from notifications.models import EmailStatus, Message, MessageKind
from notifications.rendering import render_message
from notifications.selectors import PAGE_SIZE
from tests.factories import UserFactory
from tests.notifications.factories import MessageFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    """The page's visible text, tags stripped and whitespace collapsed, to assert sentences."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S).replace("<wbr>", "")
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def ago(**delta):
    return timezone.now() - timedelta(**delta)


def url(name, message=None):
    return reverse(f"notifications:{name}", args=[message.uuid] if message else [])


def subjects(response) -> list[str]:
    return [message.shown_subject for message in response.context["page"].messages]


def refreshed(message) -> Message:
    return Message.objects.get(pk=message.pk)


# --- Inbox: who sees what ----------------------------------------------------------------------


def test_inbox_lists_only_my_messages_newest_first(signed_in, reviewer, other_reviewer):
    oldest = MessageFactory(recipient=reviewer, sent=True, created_at=ago(days=3))
    newest = MessageFactory(recipient=reviewer, sent=True, created_at=ago(hours=1))
    MessageFactory(recipient=other_reviewer, sent=True, subject="Not for Rob")

    response = signed_in(reviewer).get(url("inbox"))

    assert response.status_code == 200
    assert subjects(response) == [newest.subject, oldest.subject]
    assert "Not for Rob" not in text(response)


def test_inbox_shows_the_stored_subject_once_sent_and_renders_the_others(signed_in, reviewer):
    MessageFactory(recipient=reviewer, sent=True, subject="What was emailed")
    pending = MessageFactory(recipient=reviewer, kind=MessageKind.REMINDER, created_at=ago(days=1))

    page = text(signed_in(reviewer).get(url("inbox")))

    assert "What was emailed" in page
    assert render_message(pending.kind, pending.context, reviewer).subject in page


def test_a_message_emailed_in_a_digest_shows_its_own_subject_and_text(signed_in, reviewer):
    message = MessageFactory(recipient=reviewer, kind=MessageKind.REMINDER, in_digest=True)
    own = render_message(message.kind, message.context, reviewer)
    client = signed_in(reviewer)

    inbox = client.get(url("inbox"))
    detail = text(client.get(url("message-detail", message)))

    assert subjects(inbox) == [own.subject]
    assert own.subject in detail and "in one email with other messages" in detail
    assert "You have 3 new" not in detail


def test_unread_messages_are_bold_and_marked_new_for_screen_readers_too(signed_in, reviewer):
    MessageFactory(recipient=reviewer, sent=True, subject="Unread one")
    MessageFactory(recipient=reviewer, sent=True, read=True, subject="Read one")

    response = signed_in(reviewer).get(url("inbox"))

    html = response.content.decode()
    assert "New (unread) Unread one" in text(response)
    assert "New (unread) Read one" not in text(response)
    assert re.search(r'class="[^"]*fw-bold[^"]*">Unread one<', html)


def test_unread_only_filter_hides_read_messages(signed_in, reviewer):
    MessageFactory(recipient=reviewer, sent=True, subject="Unread one")
    MessageFactory(recipient=reviewer, sent=True, read=True, subject="Read one")

    response = signed_in(reviewer).get(url("inbox"), {"unread": "on"})

    assert subjects(response) == ["Unread one"]


def test_inbox_pages_by_50_with_an_older_link(signed_in, reviewer):
    for minutes in range(PAGE_SIZE + 5):
        MessageFactory(recipient=reviewer, sent=True, created_at=ago(minutes=minutes))
    client = signed_in(reviewer)

    first = client.get(url("inbox"))
    older = client.get(url("inbox"), {"before": first.context["page"].older})
    newer = client.get(url("inbox"), {"after": older.context["page"].newer})

    assert len(first.context["page"].messages) == PAGE_SIZE
    assert len(older.context["page"].messages) == 5
    assert set(subjects(first)).isdisjoint(subjects(older))
    assert subjects(newer) == subjects(first)


def test_anonymous_visitor_is_sent_to_sign_in(client, reviewer):
    message = MessageFactory(recipient=reviewer)

    for target in (url("inbox"), url("message-detail", message), url("delivery-log")):
        response = client.get(target)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_post_to_the_inbox_is_405(signed_in, reviewer):
    assert signed_in(reviewer).post(url("inbox")).status_code == 405


def test_get_on_open_read_read_all_and_resend_is_405_and_changes_nothing(signed_in, admin_user):
    message = MessageFactory(recipient=admin_user, failed=True)
    client = signed_in(admin_user)

    for name in ("message-open", "message-read", "message-resend"):
        assert client.get(url(name, message)).status_code == 405
    assert client.get(url("inbox-read-all")).status_code == 405

    message = refreshed(message)
    assert message.read_at is None and message.email_status == EmailStatus.FAILED


# --- Opening and reading -------------------------------------------------------------------------


def test_open_marks_the_message_read_and_redirects_to_its_link(signed_in, reviewer):
    message = MessageFactory(recipient=reviewer)

    response = signed_in(reviewer).post(url("message-open", message))

    assert response.status_code == 302
    assert response.url == message.link == "/reviews/panel/1b2c3d/"
    assert refreshed(message).read_at is not None


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example/phish",
        "javascript:alert(1)",
        "relative/path",
        "",
    ],
)
def test_open_falls_back_to_the_detail_page_for_a_link_off_the_portal(signed_in, reviewer, link):
    message = MessageFactory(
        recipient=reviewer, kind=MessageKind.ACCESS_REMOVED, context={"link": link}
    )

    response = signed_in(reviewer).post(url("message-open", message))

    assert response.url == url("message-detail", message)
    assert refreshed(message).read_at is not None


def test_detail_shows_subject_text_and_link_button_without_marking_read(signed_in, reviewer):
    message = MessageFactory(recipient=reviewer, sent=True, subject="Review Falcon by Friday")

    response = signed_in(reviewer).get(url("message-detail", message))

    page = text(response)
    assert "Review Falcon by Friday" in page
    assert "The text that was sent. Second paragraph." in page
    assert "Open the review" in page and "Mark as read" in page
    assert refreshed(message).read_at is None  # a GET changes nothing


def test_detail_of_an_unsent_message_renders_its_text(signed_in, reviewer):
    message = MessageFactory(recipient=reviewer, kind=MessageKind.AUDIT_HEAD)

    page = text(signed_in(reviewer).get(url("message-detail", message)))

    rendered = render_message(message.kind, message.context, reviewer)
    assert rendered.subject in page
    assert "2e4223c4d4e3aaa12cc4ed440fe5c4073814623d4bd4da9a1fcd5795f2df8d6b" in page


def test_detail_leaves_out_the_email_signature(signed_in, reviewer):
    message = MessageFactory(
        recipient=reviewer,
        sent=True,
        body_text="Please review.\n\n-- \nYou receive this email because you review.\n",
    )

    page = text(signed_in(reviewer).get(url("message-detail", message)))

    assert "Please review." in page and "You receive this email" not in page


@pytest.mark.parametrize("persona", ["admin_user", "reader", "outsider"])
def test_someone_elses_message_is_404_even_for_an_admin(request, signed_in, reviewer, persona):
    message = MessageFactory(recipient=reviewer)
    client = signed_in(request.getfixturevalue(persona))

    assert client.get(url("message-detail", message)).status_code == 404
    assert client.post(url("message-open", message)).status_code == 404
    assert client.post(url("message-read", message)).status_code == 404
    assert refreshed(message).read_at is None


def test_mark_as_read_marks_only_that_message_and_goes_back(signed_in, reviewer):
    message, other = MessageFactory.create_batch(2, recipient=reviewer)
    back = url("inbox") + "?unread=on"

    response = signed_in(reviewer).post(url("message-read", message), {"next": back})

    assert response.url == back
    assert refreshed(message).read_at is not None
    assert refreshed(other).read_at is None


def test_mark_as_read_never_goes_back_to_another_site(signed_in, reviewer):
    message = MessageFactory(recipient=reviewer)

    response = signed_in(reviewer).post(
        url("message-read", message), {"next": "https://evil.example/"}
    )

    assert response.url == url("inbox")


def test_mark_all_as_read_marks_only_my_messages(signed_in, reviewer, other_reviewer):
    mine = MessageFactory.create_batch(3, recipient=reviewer)
    theirs = MessageFactory(recipient=other_reviewer)

    response = signed_in(reviewer).post(url("inbox-read-all"), follow=True)

    assert all(refreshed(message).read_at is not None for message in mine)
    assert refreshed(theirs).read_at is None
    assert "Marked 3 messages as read." in text(response)


def test_posts_without_a_csrf_token_are_refused(reviewer):
    message = MessageFactory(recipient=reviewer)
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer, backend="directory.backends.DirectoryBackend")

    assert client.post(url("inbox-read-all")).status_code == 403
    assert client.post(url("message-open", message)).status_code == 403

    assert refreshed(message).read_at is None


# --- The unread badge ----------------------------------------------------------------------------


def test_navigation_shows_my_unread_count_on_every_page(signed_in, reviewer, other_reviewer):
    MessageFactory.create_batch(2, recipient=reviewer)
    MessageFactory(recipient=reviewer, read=True)
    MessageFactory.create_batch(4, recipient=other_reviewer)

    page = text(signed_in(reviewer).get(reverse("home")))

    assert "Inbox 2 unread" in page


def test_navigation_shows_no_badge_when_everything_is_read(signed_in, reviewer):
    MessageFactory(recipient=reviewer, read=True)

    page = text(signed_in(reviewer).get(reverse("home")))

    assert "Inbox" in page and "unread" not in page


def test_the_unread_count_is_not_queried_until_a_template_reads_it(
    reviewer, django_assert_num_queries
):
    MessageFactory(recipient=reviewer)

    with django_assert_num_queries(0):
        unread = UnreadMessages(reviewer)
    with django_assert_num_queries(1):
        assert unread.count == 1
        assert unread.count == 1  # counted once per request


@pytest.mark.parametrize("rows", [3, 30])
def test_inbox_runs_5_queries_whatever_the_number_of_messages(
    signed_in, reviewer, django_assert_num_queries, rows
):
    MessageFactory.create_batch(rows // 3, recipient=reviewer, sent=True)
    for kind in (MessageKind.REVIEW_STARTED, MessageKind.REMINDER):
        MessageFactory.create_batch(rows // 3, recipient=reviewer, kind=kind)
    client = signed_in(reviewer)

    # 1 session, 2 signed-in user, 3 the page of messages (LIMIT 51, unsent ones rendered
    # from their own context), 4 COUNT of unread (the nav badge and the header share it),
    # 5 their active roles (capabilities, for the nav), 6 whether they own a group (the
    # Reviews nav item: group owners may create reviews).
    with django_assert_num_queries(6):
        response = client.get(url("inbox"))

    assert len(response.context["page"].messages) == rows


# --- Delivery log ------------------------------------------------------------------------------


def test_delivery_log_lists_every_message_newest_first_for_an_admin(
    signed_in, admin_user, reviewer, other_reviewer
):
    older = MessageFactory(recipient=reviewer, failed=True, created_at=ago(days=2))
    newer = MessageFactory(recipient=other_reviewer, sent=True, created_at=ago(hours=1))

    response = signed_in(admin_user).get(url("delivery-log"))

    assert response.status_code == 200
    assert response.context["page"].messages == [newer, older]
    page = text(response)
    assert "Rob Reviewer rob@contoso.example Review started Failed" in page
    assert "SMTPRecipientsRefused: 550 mailbox unavailable 6 attempts" in page


@pytest.mark.parametrize("persona", ["reader", "outsider", "reviewer", "group_owner"])
def test_delivery_log_is_403_for_anyone_but_admins_and_the_refusal_is_audited(
    request, signed_in, persona
):
    user = request.getfixturevalue(persona)

    response = signed_in(user).get(url("delivery-log"))

    assert response.status_code == 403
    event = AuditEvent.objects.get(action="authz.denied.delivery_log")
    assert event.actor_id == str(user.uuid)


def test_delivery_log_post_is_405(signed_in, admin_user):
    assert signed_in(admin_user).post(url("delivery-log")).status_code == 405


def test_delivery_log_filters_by_status_and_kind(signed_in, admin_user):
    failed = MessageFactory(failed=True, kind=MessageKind.REMINDER)
    MessageFactory(failed=True, kind=MessageKind.REVIEW_STARTED)
    MessageFactory(sent=True, kind=MessageKind.REMINDER)
    client = signed_in(admin_user)

    response = client.get(url("delivery-log"), {"status": "failed", "kind": "reminder"})

    assert response.context["page"].messages == [failed]


@pytest.mark.parametrize("search", ["zelda", "ZELDA.Z@", "zz-mail@fabrikam"])
def test_delivery_log_filters_by_recipient_name_upn_or_email(signed_in, admin_user, search):
    zelda = UserFactory(
        display_name="Zelda Zimmer",
        user_principal_name="zelda.z@contoso.example",
        email="zz-mail@fabrikam.example",
    )
    hers = MessageFactory(recipient=zelda)
    MessageFactory()

    response = signed_in(admin_user).get(url("delivery-log"), {"recipient": search})

    assert response.context["page"].messages == [hers]


def test_delivery_log_filters_by_dates_including_the_whole_last_day(signed_in, admin_user):
    before = MessageFactory(created_at=datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    first = MessageFactory(created_at=datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    last = MessageFactory(created_at=datetime(2026, 4, 2, 23, 59, tzinfo=UTC))
    after = MessageFactory(created_at=datetime(2026, 4, 3, 0, 0, tzinfo=UTC))
    client = signed_in(admin_user)

    both = client.get(url("delivery-log"), {"date_from": "2026-04-01", "date_to": "2026-04-02"})
    since = client.get(url("delivery-log"), {"date_from": "2026-04-02"})

    assert both.context["page"].messages == [last, first]
    assert before not in since.context["page"].messages
    assert since.context["page"].messages[-1] == last
    assert after in since.context["page"].messages


def test_a_malformed_date_is_a_form_error_naming_the_field_not_a_500(signed_in, admin_user):
    message = MessageFactory(failed=True)

    response = signed_in(admin_user).get(
        url("delivery-log"), {"date_from": "2026-13-45", "status": "failed"}
    )

    assert response.status_code == 200
    assert "Created from: Enter a valid date." in text(response)
    assert response.context["page"].messages == [message]  # the valid filters still apply


def test_an_end_date_before_the_start_date_is_a_form_error(signed_in, admin_user):
    response = signed_in(admin_user).get(
        url("delivery-log"), {"date_from": "2026-04-02", "date_to": "2026-04-01"}
    )

    assert response.status_code == 200
    assert "Created to: Choose a date on or after" in text(response)


def test_unknown_status_or_kind_is_a_form_error(signed_in, admin_user):
    response = signed_in(admin_user).get(url("delivery-log"), {"status": "lost", "kind": "x"})

    page = text(response)
    assert response.status_code == 200
    assert "Email status: Select a valid choice." in page and "Kind: Select a valid choice." in page


@pytest.mark.parametrize("rows", [3, 30])
def test_delivery_log_runs_5_queries_whatever_the_number_of_messages(
    signed_in, admin_user, django_assert_num_queries, rows
):
    for recipient in UserFactory.create_batch(rows):
        MessageFactory(recipient=recipient, failed=True)
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles (capabilities), 4 the page of messages
    # joined to their recipients (recipient search is a subquery in it), 5 COUNT of the
    # admin's own unread messages (the nav badge).
    with django_assert_num_queries(5):
        response = client.get(url("delivery-log"), {"status": "failed", "recipient": "person"})

    assert len(response.context["page"].messages) == rows


# --- Resend ------------------------------------------------------------------------------------


@pytest.mark.parametrize("trait", ["failed", "skipped"])
def test_resend_queues_a_failed_or_skipped_message_again_and_audits_it(
    signed_in, admin_user, reviewer, trait
):
    message = MessageFactory(recipient=reviewer, **{trait: True})
    back = url("delivery-log") + "?status=" + trait

    response = signed_in(admin_user).post(url("message-resend", message), {"next": back})

    assert response.url == back
    message = refreshed(message)
    assert message.email_status == EmailStatus.PENDING
    assert message.attempts == 0 and message.skip_reason == "" and message.last_error == ""
    event = AuditEvent.objects.get(action="notification.resent")
    assert event.actor_id == str(admin_user.uuid) and event.object_id == str(message.uuid)


def test_resending_a_sent_message_says_why_and_changes_nothing(signed_in, admin_user, reviewer):
    message = MessageFactory(recipient=reviewer, sent=True)

    response = signed_in(admin_user).post(url("message-resend", message), follow=True)

    assert "Not resent: the email to Rob Reviewer is sent." in text(response)
    assert refreshed(message).email_status == EmailStatus.SENT
    assert not AuditEvent.objects.filter(action="notification.resent").exists()


def test_only_failed_and_skipped_rows_offer_resend(signed_in, admin_user):
    MessageFactory(failed=True)
    MessageFactory(sent=True)
    MessageFactory()

    page = text(signed_in(admin_user).get(url("delivery-log")))

    assert page.count("Resend the review started message") == 1


@pytest.mark.parametrize("persona", ["reader", "outsider"])
def test_resend_is_403_for_non_admins_and_changes_nothing(request, signed_in, persona):
    message = MessageFactory(failed=True)

    response = signed_in(request.getfixturevalue(persona)).post(url("message-resend", message))

    assert response.status_code == 403
    assert refreshed(message).email_status == EmailStatus.FAILED
    assert AuditEvent.objects.filter(action="authz.denied.delivery_log").count() == 1


def test_resend_of_an_unknown_message_is_404(signed_in, admin_user):
    message = MessageFactory.build(uuid="00000000-0000-0000-0000-000000000000")

    assert signed_in(admin_user).post(url("message-resend", message)).status_code == 404


def test_resend_without_a_csrf_token_is_refused(admin_user):
    message = MessageFactory(failed=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user, backend="directory.backends.DirectoryBackend")

    assert client.post(url("message-resend", message)).status_code == 403
    assert refreshed(message).email_status == EmailStatus.FAILED
