"""Every email kind renders a subject, a text body and an HTML body from its KINDS sample."""

import copy
import html
import re
import zoneinfo
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.utils.dateparse import parse_datetime

from notifications.kinds import KINDS
from notifications.models import MessageKind
from notifications.rendering import render_digest, render_message
from tests.factories import UserFactory

ROB = SimpleNamespace(display_name="Rob Reviewer", time_zone="Europe/Paris")
SET_PASSWORD_URL = "http://127.0.0.1:8000/accounts/reset/MQ/cz0abc-0123456789abcdef/"
HOSTILE = '<b>x</b> & "q"\nBcc: mallory@evil.example'

SUBJECTS = {
    MessageKind.REVIEW_STARTED: "Review access to Project Falcon by 14 Dec (stage 1 of 2)",
    MessageKind.REMINDER: "Reminder: review access to Project Falcon by 14 Dec (12 of 34 left)",
    MessageKind.STAGE_STARTED: "Stage 2 of 2: review access to Project Falcon by 21 Dec",
    MessageKind.REVIEW_COMPLETED: (
        "Review of Project Falcon completed: 28 approved, 4 denied, 1 not reviewed"
    ),
    MessageKind.ACCESS_REMOVED: "Your access to Project Falcon has been removed",
    MessageKind.APPLY_NEEDS_CONFIRMATION: (
        "Confirmation needed: review of Engineering would remove 31 of 48 (65%)"
    ),
    MessageKind.DELIVERY_FAILURES: "2 access review emails could not be delivered",
    MessageKind.AUDIT_HEAD: "Audit log head, 27 Nov 2026: seq 1842, hash 2e4223c4d4e3…",
}

# What each email must say, beyond the sample's own values (in both bodies).
PHRASES = {
    MessageKind.REVIEW_STARTED: ["34 people", "1 of 2", "Start review"],
    MessageKind.REMINDER: ["12 of 34", "Continue review"],
    MessageKind.STAGE_STARTED: ["Stage 2 of 2", "9 people", "Start review"],
    MessageKind.REVIEW_COMPLETED: ["Approved", "Denied", "Not reviewed", "has been removed"],
    MessageKind.ACCESS_REMOVED: ["was removed on", "mistake"],
    MessageKind.APPLY_NEEDS_CONFIRMATION: ["31 of 48", "65%", "50%", "nothing has been removed"],
    MessageKind.DELIVERY_FAILURES: ["2 emails could not be delivered", "delivery log"],
    MessageKind.AUDIT_HEAD: [
        "Keep this email: if the audit log is ever rewritten, this head will no longer match."
    ],
}

# The call to action in the HTML: the button that opens the message's link.
BUTTONS = {
    MessageKind.REVIEW_STARTED: "Start review",
    MessageKind.REMINDER: "Continue review",
    MessageKind.STAGE_STARTED: "Start review",
    MessageKind.REVIEW_COMPLETED: "View results",
    MessageKind.APPLY_NEEDS_CONFIRMATION: "Preview and confirm",
    MessageKind.DELIVERY_FAILURES: "Open the delivery log",
    MessageKind.AUDIT_HEAD: "Open the audit log",
}


def sample(kind, **changes):
    return {**copy.deepcopy(KINDS[kind].sample), **changes}


def shown_values(context):
    """The sample's values as a reader sees them (instants are checked separately)."""
    for key, value in context.items():
        if key == "link" or key.endswith("_at"):
            continue
        if isinstance(value, list):
            for row in value:
                yield from (str(v) for v in row.values())
        else:
            yield str(value)


def local(iso, zone):
    instant = parse_datetime(iso).astimezone(zoneinfo.ZoneInfo(zone))
    return f"{instant:%A} {instant.day} {instant:%B %Y, %H:%M} ({zone})"


def urls(markup):
    return set(re.findall(r"https?://[^\s\"'<>]+", markup))


def hostile(value):
    if isinstance(value, str):
        return HOSTILE
    if isinstance(value, list):
        return [{key: HOSTILE for key in row} for row in value]
    return value


def contrast(foreground, background):
    def luminance(hex_colour):
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("kind", MessageKind.values)
def test_every_kind_renders_its_sample_with_its_values_in_both_bodies(kind):
    context = sample(kind)
    rendered = render_message(kind, context, ROB)

    assert rendered.subject == SUBJECTS[kind]
    for value in [*shown_values(context), *PHRASES[kind]]:
        assert value in rendered.text
        assert html.escape(value) in rendered.html
    for key in [key for key in context if key.endswith("_at")]:
        assert local(context[key], "Europe/Paris") in rendered.text
        assert local(context[key], "Europe/Paris").split(" (")[0] in rendered.html
    assert "Hello Rob Reviewer," in rendered.text
    if "link" in context:
        link_url = settings.PORTAL_URL + context["link"]
        assert link_url in rendered.text
        assert f'href="{html.escape(link_url)}"' in rendered.html


@pytest.mark.parametrize("kind", MessageKind.values)
def test_every_kind_has_a_single_line_subject_even_with_line_breaks_in_values(kind):
    context = {key: hostile(value) for key, value in sample(kind).items()}
    context["link"] = KINDS[kind].sample.get("link", "")

    subject = render_message(kind, context, ROB).subject

    assert subject
    assert "\n" not in subject
    assert "\r" not in subject


@pytest.mark.parametrize("kind", MessageKind.values)
def test_no_kind_loads_anything_remote_or_runs_scripts(kind):
    rendered = render_message(kind, sample(kind), ROB, set_password_url=SET_PASSWORD_URL)
    allowed = {settings.PORTAL_URL, SET_PASSWORD_URL}
    if "link" in KINDS[kind].sample:
        allowed.add(settings.PORTAL_URL + KINDS[kind].sample["link"])

    markup = rendered.html.lower()
    for forbidden in ["<img", "src=", "<script", "<style", "<link", "url(", "@import", "<iframe"]:
        assert forbidden not in markup
    assert urls(rendered.html) <= allowed
    assert urls(rendered.text) <= allowed


@pytest.mark.parametrize("kind", MessageKind.values)
def test_html_in_a_value_is_escaped_in_html_and_left_as_is_in_text(kind):
    context = {key: hostile(value) for key, value in sample(kind).items()}
    context["link"] = KINDS[kind].sample.get("link", "")

    rendered = render_message(kind, context, ROB)

    assert "<b>" not in rendered.html
    assert "&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot;" in rendered.html
    assert HOSTILE in rendered.text
    assert "&lt;" not in rendered.text + rendered.subject
    assert "&amp;" not in rendered.text + rendered.subject


@pytest.mark.parametrize("kind", MessageKind.values)
def test_html_is_a_simple_accessible_email(kind):
    rendered = render_message(kind, sample(kind), ROB)

    assert '<html lang="en"' in rendered.html
    assert re.search(r"<title>[^<]+</title>", rendered.html)
    assert rendered.html.count("<h1") == 1
    assert "max-width:600px" in rendered.html
    assert 'role="presentation"' in rendered.html
    if kind in BUTTONS:
        link_url = html.escape(settings.PORTAL_URL + KINDS[kind].sample["link"])
        button = re.search(
            rf'<a href="{re.escape(link_url)}" style="([^"]+)">([^<]+)</a>', rendered.html
        )
        assert button.group(2) == BUTTONS[kind]
        background = re.search(r"background-color:(#[0-9a-f]{6})", button.group(1)).group(1)
        foreground = re.search(r";color:(#[0-9a-f]{6})", button.group(1)).group(1)
        assert contrast(foreground, background) >= 4.5


@pytest.mark.parametrize(
    ("zone", "due", "day"),
    [
        ("Europe/Paris", "Monday 14 December 2026, 18:00 (Europe/Paris)", "14 Dec"),
        ("America/New_York", "Monday 14 December 2026, 12:00 (America/New_York)", "14 Dec"),
        ("Asia/Tokyo", "Tuesday 15 December 2026, 02:00 (Asia/Tokyo)", "15 Dec"),
    ],
)
def test_due_date_is_shown_in_the_recipients_time_zone(zone, due, day):
    recipient = SimpleNamespace(display_name="Rob Reviewer", time_zone=zone)

    rendered = render_message(MessageKind.REVIEW_STARTED, sample("review_started"), recipient)

    assert f"by {day}" in rendered.subject
    assert f"Due by: {due}" in rendered.text
    assert html.escape(due.split(" (")[0]) in rendered.html
    assert f"({zone})" in rendered.html
    assert "17:00" not in rendered.text + rendered.html


def test_due_date_is_shown_in_the_portals_time_zone_when_the_recipient_has_none(db, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    recipient = UserFactory(display_name="Nadia No-Zone", time_zone="")

    rendered = render_message(MessageKind.REMINDER, sample("reminder"), recipient)

    assert "Hello Nadia No-Zone," in rendered.text
    assert "Due by: Tuesday 15 December 2026, 02:00 (Asia/Tokyo)" in rendered.text
    assert "Times are shown in Asia/Tokyo." in rendered.text
    assert "Tuesday 15 December 2026, 02:00" in rendered.html


@pytest.mark.parametrize("kind", MessageKind.values)
def test_set_password_link_is_given_first_and_prominently_only_when_needed(kind):
    with_link = render_message(kind, sample(kind), ROB, set_password_url=SET_PASSWORD_URL)
    without = render_message(kind, sample(kind), ROB)

    assert with_link.text.startswith("FIRST, SET YOUR PASSWORD")
    assert SET_PASSWORD_URL in with_link.text.split("Hello")[0]
    h1_end = with_link.html.index("</h1>")
    box = with_link.html[h1_end : with_link.html.index("Hello")]
    assert "First, set your password" in box
    assert f'<a href="{SET_PASSWORD_URL}"' in box
    assert "password" not in without.text.lower()
    assert "password" not in without.html.lower()
    assert "accounts/reset" not in without.text + without.html


@pytest.mark.parametrize("kind", MessageKind.values)
def test_missing_optional_keys_render_nothing(kind):
    context = {key: KINDS[kind].sample[key] for key in KINDS[kind].required}

    rendered = render_message(kind, context, ROB)

    for output in (rendered.subject, rendered.text, rendered.html):
        assert "None" not in output
        assert "()" not in output
        assert "<strong></strong>" not in output
    assert "Instructions" not in rendered.text + rendered.html
    assert "Don't know" not in rendered.text


def test_review_started_shows_the_stage_only_for_a_multi_stage_review():
    single = sample("review_started", stage=1, stage_count=1)

    rendered = render_message(MessageKind.REVIEW_STARTED, single, ROB)

    assert rendered.subject == "Review access to Project Falcon by 14 Dec"
    assert "Stage" not in rendered.text
    assert "Stage" not in rendered.html


def test_review_started_names_a_directory_role_in_words():
    context = sample("review_started", resource_type="directoryRole", resource_name="Global Reader")

    rendered = render_message(MessageKind.REVIEW_STARTED, context, ROB)

    assert "the directory role Global Reader" in rendered.text
    assert "directoryRole" not in rendered.text + rendered.html


def test_review_completed_says_when_results_are_not_applied_yet():
    context = sample("review_completed", apply_status="Completed")

    rendered = render_message(MessageKind.REVIEW_COMPLETED, context, ROB)

    assert "Nobody loses access until the results are applied." in rendered.text
    assert "Nobody loses access until the results are applied." in rendered.html


def test_access_removed_without_a_contact_points_to_the_owner_or_it():
    context = sample("access_removed")
    del context["contact"]

    rendered = render_message(MessageKind.ACCESS_REMOVED, context, ROB)

    assert "ask the owner of Project Falcon or your IT administrator" in rendered.text
    assert "mailto:" not in rendered.html


def test_access_removed_links_a_contact_address_by_email():
    rendered = render_message(MessageKind.ACCESS_REMOVED, sample("access_removed"), ROB)

    assert "contact oscar.owner@contoso.example." in rendered.text
    assert 'href="mailto:oscar.owner@contoso.example"' in rendered.html


def test_delivery_failures_say_when_only_some_are_listed():
    context = sample("delivery_failures", failed_count=40)

    rendered = render_message(MessageKind.DELIVERY_FAILURES, context, ROB)

    assert rendered.subject == "40 access review emails could not be delivered"
    assert "Only the first 2 are listed here" in rendered.text
    assert "Only the first 2 are listed here" in rendered.html


def test_digest_lists_each_entrys_subject_due_date_and_link():
    kinds = [MessageKind.REVIEW_STARTED, MessageKind.REMINDER, MessageKind.STAGE_STARTED]
    messages = [SimpleNamespace(kind=kind, context=sample(kind)) for kind in kinds]

    rendered = render_digest(messages, ROB)

    assert rendered.subject == "You have 3 new access review notifications"
    for kind, message in zip(kinds, messages, strict=True):
        link_url = settings.PORTAL_URL + message.context["link"]
        due = local(message.context["due_at"], "Europe/Paris")
        assert SUBJECTS[kind] in rendered.text
        assert re.search(
            rf'<a href="{re.escape(link_url)}"[^>]*>{re.escape(SUBJECTS[kind])}</a>', rendered.html
        )
        assert link_url in rendered.text
        assert f"Due by {due}" in rendered.text
        assert f"Due by {due}" in rendered.html
    assert "None" not in rendered.text + rendered.html


def test_digest_escapes_html_in_entry_subjects_and_carries_the_set_password_link():
    context = sample("reminder", resource_name="<b>x</b>")
    messages = [SimpleNamespace(kind=MessageKind.REMINDER, context=context)] * 2

    rendered = render_digest(messages, ROB, set_password_url=SET_PASSWORD_URL)

    assert "<b>" not in rendered.html
    assert "review access to &lt;b&gt;x&lt;/b&gt; by 14 Dec" in rendered.html
    assert "review access to <b>x</b> by 14 Dec" in rendered.text
    assert rendered.text.startswith("FIRST, SET YOUR PASSWORD")
    assert f'<a href="{SET_PASSWORD_URL}"' in rendered.html
