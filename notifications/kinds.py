"""What each kind of message carries in its context, with a sample for previews and tests.

The context is the contract between the app that writes a message and the templates that
render it (templates/emails/<kind>-subject.txt, -body.txt, -body.html). Every value a message
shows is in it; `link` is a path in the portal. Keys ending in `_at` are ISO-8601 UTC instants,
shown in the recipient's time zone.
"""

from dataclasses import dataclass, field

from notifications.models import MessageKind


@dataclass(frozen=True)
class KindSpec:
    required: tuple[str, ...]
    sample: dict = field(default_factory=dict)


KINDS: dict[str, KindSpec] = {
    MessageKind.REVIEW_STARTED: KindSpec(
        ("review_name", "resource_type", "resource_name", "due_at", "item_count", "link"),
        {
            "review_name": "Quarterly review of Project Falcon",
            "resource_type": "group",
            "resource_name": "Project Falcon",
            "reviewer_description": "Check that every contractor still works on Falcon.",
            "due_at": "2026-12-14T17:00:00Z",
            "item_count": 34,
            "stage": 1,
            "stage_count": 2,
            "link": "/reviews/panel/1b2c3d/",
        },
    ),
    MessageKind.REMINDER: KindSpec(
        ("review_name", "resource_name", "due_at", "pending_count", "link"),
        {
            "review_name": "Quarterly review of Project Falcon",
            "resource_name": "Project Falcon",
            "due_at": "2026-12-14T17:00:00Z",
            "pending_count": 12,
            "item_count": 34,
            "link": "/reviews/panel/1b2c3d/",
        },
    ),
    MessageKind.STAGE_STARTED: KindSpec(
        ("review_name", "resource_name", "stage", "stage_count", "due_at", "item_count", "link"),
        {
            "review_name": "Quarterly review of Project Falcon",
            "resource_name": "Project Falcon",
            "reviewer_description": "Second look by the group's owners.",
            "stage": 2,
            "stage_count": 2,
            "due_at": "2026-12-21T17:00:00Z",
            "item_count": 9,
            "link": "/reviews/panel/4e5f6a/",
        },
    ),
    MessageKind.REVIEW_COMPLETED: KindSpec(
        (
            "review_name",
            "resource_name",
            "approved",
            "denied",
            "not_reviewed",
            "apply_status",
            "link",
        ),
        {
            "review_name": "Quarterly review of Project Falcon",
            "resource_name": "Project Falcon",
            "ended_at": "2026-12-21T17:00:00Z",
            "approved": 28,
            "denied": 4,
            "dont_know": 1,
            "not_reviewed": 1,
            "apply_status": "Applied",
            "link": "/reviews/instances/7a8b9c/",
        },
    ),
    MessageKind.ACCESS_REMOVED: KindSpec(
        ("resource_type", "resource_name", "review_name", "removed_at"),
        {
            "resource_type": "group",
            "resource_name": "Project Falcon",
            "review_name": "Quarterly review of Project Falcon",
            "removed_at": "2026-12-21T17:05:00Z",
            "contact": "oscar.owner@contoso.example",
        },
    ),
    MessageKind.APPLY_NEEDS_CONFIRMATION: KindSpec(
        ("review_name", "resource_name", "would_remove", "total", "limit_percent", "link"),
        {
            "review_name": "Quarterly review of Engineering",
            "resource_name": "Engineering",
            "would_remove": 31,
            "total": 48,
            "limit_percent": 50,
            "link": "/reviews/instances/1f2e3d/",
        },
    ),
    MessageKind.DELIVERY_FAILURES: KindSpec(
        ("failed_count", "failures", "link"),
        {
            "failed_count": 2,
            "failures": [
                {
                    "recipient": "ann@contoso.example",
                    "kind": "Reminder",
                    "error": "SMTPRecipientsRefused: 550 mailbox unavailable",
                },
                {
                    "recipient": "bob@fabrikam.example",
                    "kind": "Review started",
                    "error": "timed out",
                },
            ],
            "link": "/notifications/deliveries/?status=failed",
        },
    ),
    MessageKind.AUDIT_HEAD: KindSpec(
        ("seq", "hash", "published_at", "link"),
        {
            "seq": 1842,
            "hash": "2e4223c4d4e3aaa12cc4ed440fe5c4073814623d4bd4da9a1fcd5795f2df8d6b",
            "published_at": "2026-11-27T00:00:00Z",
            "link": "/directory/audit/",
        },
    ),
}

assert set(KINDS) == set(MessageKind.values), "every kind needs a spec"


def missing_keys(kind: str, context: dict) -> list[str]:
    return [key for key in KINDS[kind].required if key not in context]
