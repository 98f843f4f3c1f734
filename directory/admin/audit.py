"""The audit log and grant revocations: read here, written only by their own code."""

from django.contrib import admin
from django.utils.html import format_html

from directory import audit
from directory.admin.base import ReadOnlyAdmin
from directory.models import AuditEvent, GrantRevocation


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "at", "actor", "action", "target")
    list_filter = ("action", "actor_type", "object_type")
    search_fields = ("action", "actor_label", "=actor_id", "object_label", "=object_id")
    show_full_result_count = False
    fields = (
        "seq",
        "at",
        "actor_type",
        "actor_id",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_label",
        "details_json",
        "operation",
        "detail_source",
        "detail_count",
        "detail_digest",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields

    @admin.display(description="actor", ordering="actor_label")
    def actor(self, event):
        return event.actor_label or event.actor_type

    @admin.display(description="object", ordering="object_label")
    def target(self, event):
        if not event.object_type:
            return None
        return f"{event.object_type}: {event.object_label or event.object_id}"

    @admin.display(description="details")
    def details_json(self, event):
        return format_html("<pre>{}</pre>", audit.canonical_json(event.details))


@admin.register(GrantRevocation)
class GrantRevocationAdmin(ReadOnlyAdmin):
    list_display = (
        "requested_at",
        "resource_type",
        "resource_id",
        "principal_type",
        "principal_id",
        "result",
        "reason",
        "actor_label",
        "restored_at",
    )
    list_filter = ("result", "resource_type", "principal_type")
    search_fields = ("actor_label", "reason", "=batch")
    ordering = ("-requested_at", "-id")
    show_full_result_count = False
