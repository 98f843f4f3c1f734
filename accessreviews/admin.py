from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from accessreviews import describe
from accessreviews.models import (
    DefinitionStage,
    ReviewDefinition,
    ReviewInstance,
    ReviewStage,
    SchedulerHeartbeat,
)
from accessreviews.models.instances import StageStatus
from accessreviews.services import definitions as services
from accessreviews.services import operations
from accessreviews.services.reminders import reminder_send_now
from directory.admin import ReadOnlyAdmin
from directory.capabilities import capabilities_for


@admin.register(SchedulerHeartbeat)
class SchedulerHeartbeatAdmin(ReadOnlyAdmin):
    """Written only by the tick: admins read it to see that the scheduler is alive."""

    list_display = ("name", "last_tick_at", "since", "ticks")

    @admin.display(description="last tick")
    def since(self, heartbeat):
        return f"{timesince(heartbeat.last_tick_at, timezone.now())} ago"


class DefinitionStageInline(admin.TabularInline):
    model = DefinitionStage
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "ordinal",
        "reviewer_type",
        "duration_days",
        "recommendations_enabled",
        "decisions_that_move_on",
        "show_earlier_decisions",
    )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReviewDefinition)
class ReviewDefinitionAdmin(ReadOnlyAdmin):
    """Read-only: series change in the portal, whose services validate, check and audit.

    Pause, resume and end are offered as actions that call those same services.
    """

    actions = ["pause_selected", "resume_selected", "end_selected"]
    nouns = ("series", "series")  # for _each's summary
    list_display = ("name", "scope_type", "status", "next_occurrence_at", "creator")
    list_filter = ("status", "scope_type", "recurrence")
    list_select_related = ("created_by",)
    search_fields = (
        "name",
        "=uuid",
        "created_by__display_name",
        "created_by__user_principal_name",
    )
    # A COUNT over every definition on each page load buys nothing here.
    show_full_result_count = False
    inlines = [DefinitionStageInline]
    fieldsets = (
        (None, {"fields": ("uuid", "name", "portal_link", "status", "created_by", "created_at")}),
        (
            "In words",
            {"fields": ("schedule_in_words", "scope_in_words", "settings_in_words")},
        ),
        (
            "Descriptions",
            {"fields": ("description_for_admins", "description_for_reviewers")},
        ),
        (
            "Series state",
            {"fields": ("next_occurrence_index", "next_occurrence_at", "updated_at")},
        ),
    )
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    @admin.display(description="created by", ordering="created_by__display_name")
    def creator(self, definition):
        return definition.created_by.display_name

    @admin.display(description="in the portal")
    def portal_link(self, definition):
        url = reverse("accessreviews:definition-detail", args=[definition.uuid])
        return format_html('<a href="{}">Open the series page</a>', url)

    @admin.display(description="schedule")
    def schedule_in_words(self, definition):
        return describe.describe_schedule(definition)

    @admin.display(description="scope")
    def scope_in_words(self, definition):
        return _lines(describe.describe_scope(definition))

    @admin.display(description="settings")
    def settings_in_words(self, definition):
        return _lines(describe.describe_settings(definition))

    def has_manage_permission(self, request):
        return capabilities_for(request.user).use_django_admin

    @admin.action(permissions=["manage"], description="Pause selected series")
    def pause_selected(self, request, queryset):
        _each(self, request, self._series(queryset), services.definition_pause, "paused")

    @admin.action(permissions=["manage"], description="Resume selected series")
    def resume_selected(self, request, queryset):
        _each(self, request, self._series(queryset), services.definition_resume, "resumed")

    @admin.action(permissions=["manage"], description="End selected series")
    def end_selected(self, request, queryset):
        _each(self, request, self._series(queryset), services.definition_end, "ended")

    @staticmethod
    def _series(queryset):
        return queryset.prefetch_related("groups", "stages")


def _lines(lines) -> str:
    rows = format_html_join("", "<dt>{}</dt><dd>{}</dd>", ((ln.label, ln.text) for ln in lines))
    return format_html("<dl>{}</dl>", rows)


@admin.register(ReviewInstance)
class ReviewInstanceAdmin(ReadOnlyAdmin):
    """Read-only: runs change through the instance page's services, which lock and audit.

    Stop and Send reminder are offered as actions that call those same services.
    """

    actions = ["stop_selected", "remind_selected"]
    nouns = ("review", "reviews")  # for _each's summary
    list_display = ("resource_name", "definition", "status", "current_stage", "start_at", "end_at")
    list_filter = ("status", "resource_type")
    list_select_related = ("definition",)
    search_fields = ("resource_name", "=uuid", "definition__name")
    show_full_result_count = False
    fields = readonly_fields = (
        "uuid",
        "portal_link",
        "definition",
        "resource_type",
        "resource_name",
        "status",
        "current_stage",
        "start_at",
        "end_at",
        "completed_at",
        "applied_at",
        "needs_confirmation",
        "attempts",
        "failed_step",
        "last_error",
    )

    @admin.display(description="in the portal")
    def portal_link(self, instance):
        url = reverse("accessreviews:instance-detail", args=[instance.uuid])
        return format_html('<a href="{}">Open the review page</a>', url)

    def has_manage_permission(self, request):
        return capabilities_for(request.user).use_django_admin

    @admin.action(permissions=["manage"], description="Stop selected reviews")
    def stop_selected(self, request, queryset):
        """Ask first, as delete_selected does: a stop cannot be undone."""
        if request.POST.get("post") == "yes":
            _each(self, request, self._runs(queryset), operations.instance_stop, "stopped")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Stop the selected reviews?",
            "opts": self.model._meta,
            "queryset": queryset.select_related("definition").order_by("resource_name", "pk"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(
            request, "admin/accessreviews/reviewinstance/stop_selected_confirmation.html", context
        )

    @admin.action(permissions=["manage"], description="Send a reminder now (open stage)")
    def remind_selected(self, request, queryset):
        def remind(user, instance):
            stage = ReviewStage.objects.filter(
                instance=instance, status=StageStatus.IN_PROGRESS
            ).first()
            if stage is None:
                raise ValidationError("It has no open stage.")
            stage.instance = instance
            reminder_send_now(user, stage)

        _each(self, request, self._runs(queryset), remind, "reminded")

    @staticmethod
    def _runs(queryset):
        return queryset.select_related("definition")


def _each(model_admin, request, objects, service, done: str) -> None:
    """Call the service per object (each is its own audited transaction); name refusals."""
    changed = 0
    for obj in objects:
        try:
            service(request.user, obj)
        except (ValidationError, PermissionDenied) as refusal:
            reason = " ".join(getattr(refusal, "messages", [str(refusal)]))
            model_admin.message_user(request, f"{obj}: {reason}", messages.WARNING)
        else:
            changed += 1
    if changed:
        noun = describe.plural(changed, *model_admin.nouns)
        model_admin.message_user(request, f"{noun} {done}.", messages.SUCCESS)
