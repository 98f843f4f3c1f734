"""Render a message (or a digest of several) at delivery time, in the recipient's time zone."""

import datetime
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def recipient_zone(recipient) -> zoneinfo.ZoneInfo:
    name = getattr(recipient, "time_zone", "") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def absolute(path: str) -> str:
    if not path or "://" in path:
        return path
    return settings.PORTAL_URL + (path if path.startswith("/") else "/" + path)


def template_context(context: dict, recipient, **extra) -> dict:
    """The message's own values, with `*_at` instants as local datetimes and links absolute."""
    zone = recipient_zone(recipient)
    values = {}
    for key, value in context.items():
        if key.endswith("_at") and isinstance(value, str):
            instant = parse_datetime(value)
            if instant is not None and instant.tzinfo is not None:
                value = instant.astimezone(zone)
        values[key] = value
    return {
        **values,
        "link_url": absolute(context.get("link", "")),
        "recipient_name": getattr(recipient, "display_name", ""),
        "time_zone": zone.key,
        "portal_url": settings.PORTAL_URL,
        **extra,
    }


def _subject(prefix: str, values: dict) -> str:
    subject = render_to_string(f"emails/{prefix}-subject.txt", values)
    # A subject is one line whatever the template's whitespace (and header injection-proof).
    return " ".join(subject.split())[:300]


def _render(prefix: str, values: dict) -> Rendered:
    return Rendered(
        subject=_subject(prefix, values),
        text=render_to_string(f"emails/{prefix}-body.txt", values).strip() + "\n",
        html=render_to_string(f"emails/{prefix}-body.html", values),
    )


def render_message(kind: str, context: dict, recipient, **extra) -> Rendered:
    # Rendering in the recipient's zone too, so a template's {{ x|date }} can never show the
    # portal's time by accident.
    with timezone.override(recipient_zone(recipient)):
        return _render(kind, template_context(context, recipient, **extra))


def render_subject(kind: str, context: dict, recipient) -> str:
    """Only the subject (the inbox lists many messages; their bodies are not needed there)."""
    with timezone.override(recipient_zone(recipient)):
        return _subject(kind, template_context(context, recipient))


def render_digest(messages, recipient, **extra) -> Rendered:
    """One email listing several messages; each entry is its own kind's rendered subject."""
    with timezone.override(recipient_zone(recipient)):
        return _render_digest(messages, recipient, extra)


def _render_digest(messages, recipient, extra: dict) -> Rendered:
    entries = []
    for message in messages:
        values = template_context(message.context, recipient)
        entries.append(
            {**values, "kind": message.kind, "subject": _render(message.kind, values).subject}
        )
    return _render("digest", {**template_context({}, recipient, **extra), "entries": entries})


def local(instant: datetime.datetime, recipient) -> datetime.datetime:
    return instant.astimezone(recipient_zone(recipient))
