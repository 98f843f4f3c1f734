"""Messages in the Django admin: read-only rows, with a resend action that calls the service."""

import json

from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html

from directory.admin.base import ReadOnlyAdmin
from directory.capabilities import capabilities_for
from notifications import services
from notifications.models import Message


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """Written only by the services and delivery; admins read them and may queue a resend."""

    actions = ["resend_selected"]
    list_display = ("created_at", "recipient_name", "kind", "email_status", "attempts", "sent_at")
    list_select_related = ("recipient",)
    list_filter = ("email_status", "kind")
    search_fields = (
        "recipient__display_name",
        "recipient__user_principal_name",
        "recipient__email",
        "=uuid",
        "dedupe_key",
        "subject",
    )
    # A COUNT over every message on each page load would be the slowest query here.
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("uuid", "recipient", "kind", "created_at", "read_at", "link")}),
        ("Context", {"fields": ("context_json", "dedupe_key")}),
        (
            "Email",
            {
                "fields": (
                    "email_status",
                    "skip_reason",
                    "attempts",
                    "next_attempt_at",
                    "lease_until",
                    "last_error",
                    "sent_at",
                    "email_message_id",
                )
            },
        ),
        ("As sent", {"fields": ("subject", "body_text", "body_html_source")}),
    )
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    @admin.display(description="recipient", ordering="recipient__display_name")
    def recipient_name(self, message):
        # The name alone: "Name <upn>" pushes the status columns off a laptop screen.
        return message.recipient.display_name

    @admin.display(description="link")
    def link(self, message):
        return message.link or "—"

    @admin.display(description="context")
    def context_json(self, message):
        return format_html("<pre>{}</pre>", json.dumps(message.context, indent=2, sort_keys=True))

    @admin.display(description="HTML body (source)")
    def body_html_source(self, message):
        # Shown as source, never rendered inside the admin.
        return format_html("<pre>{}</pre>", message.body_html) if message.body_html else "—"

    def has_resend_permission(self, request):
        return capabilities_for(request.user).use_django_admin

    @admin.action(permissions=["resend"], description="Resend selected failed or skipped messages")
    def resend_selected(self, request, queryset):
        resent = not_eligible = 0
        with transaction.atomic():
            for message in queryset.select_related("recipient").select_for_update(of=("self",)):
                if message.can_resend:
                    services.message_resend(request.user, message)
                    resent += 1
                else:
                    not_eligible += 1
        self.message_user(
            request,
            f"Resent {resent} message{'s' if resent != 1 else ''}; {not_eligible} "
            f"{'was' if not_eligible == 1 else 'were'} not eligible "
            "(only failed or skipped messages can be resent).",
            messages.SUCCESS if resent else messages.WARNING,
        )
