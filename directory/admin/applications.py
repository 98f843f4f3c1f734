"""Applications, their owners and app roles, app role assignments, and sign-ins (read-only)."""

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from directory.admin.base import (
    AuditedAdmin,
    PrincipalTypeFilter,
    ReadOnlyAdmin,
    changelist_url,
    principal_of,
    refuse_two_principals,
)
from directory.admin.inlines import OwnerInline
from directory.models import (
    Application,
    ApplicationOwner,
    ApplicationSignIn,
    AppRole,
    AppRoleAssignment,
)


class ApplicationOwnerInline(OwnerInline):
    model = ApplicationOwner


class AppRoleInline(admin.TabularInline):
    model = AppRole
    fields = ("value", "display_name", "description")
    extra = 0


@admin.register(Application)
class ApplicationAdmin(AuditedAdmin):
    list_display = ("name", "assignment_required", "assignment_count", "owner_count", "created_at")
    list_filter = ("assignment_required",)
    search_fields = ("name", "description", "external_id")
    show_full_result_count = False
    fields = (
        "name",
        "description",
        "assignment_required",
        "assignments",
        "external_id",
        "created_at",
        "uuid",
    )
    readonly_fields = ("assignments", "created_at", "uuid")
    inlines = [ApplicationOwnerInline, AppRoleInline]

    def get_queryset(self, request):
        return super().get_queryset(request).with_counts()

    @admin.display(description="assignments", ordering="assignment_count")
    def assignment_count(self, application):
        return application.assignment_count

    @admin.display(description="owners", ordering="owner_count")
    def owner_count(self, application):
        return application.owner_count

    @admin.display(description="assignments")
    def assignments(self, application):
        if application.pk is None:
            return "-"
        url = changelist_url(AppRoleAssignment, app_role__application__id__exact=application.pk)
        count = getattr(application, "assignment_count", "all")
        return format_html('<a href="{}">{} assignments</a>', url, count)


@admin.register(AppRole)
class AppRoleAdmin(AuditedAdmin):
    list_display = ("display_name", "value", "application")
    list_select_related = ("application",)
    search_fields = ("display_name", "value", "application__name")
    autocomplete_fields = ("application",)
    show_full_result_count = False

    def get_queryset(self, request):
        # str() names the application: the autocomplete lists them without a query per row.
        return super().get_queryset(request).select_related("application")


class AppRoleAssignmentForm(forms.ModelForm):
    class Meta:
        model = AppRoleAssignment
        fields = ("app_role", "user", "group")

    def clean(self):
        cleaned = super().clean()
        refuse_two_principals(self, cleaned)
        return cleaned


@admin.register(AppRoleAssignment)
class AppRoleAssignmentAdmin(AuditedAdmin):
    form = AppRoleAssignmentForm
    list_display = ("app_role", "principal", "assigned_at")
    list_select_related = ("app_role__application", "user", "group")
    list_filter = ("app_role__application", PrincipalTypeFilter)
    search_fields = (
        "app_role__application__name",
        "app_role__display_name",
        "user__display_name",
        "user__user_principal_name",
        "group__name",
    )
    autocomplete_fields = ("app_role", "user", "group")
    fields = ("app_role", "user", "group", "assigned_at")
    readonly_fields = ("assigned_at",)
    show_full_result_count = False

    @admin.display(description="assigned to")
    def principal(self, assignment):
        return principal_of(assignment)


@admin.register(ApplicationSignIn)
class ApplicationSignInAdmin(ReadOnlyAdmin):
    list_display = ("user", "application", "last_sign_in_at")
    list_select_related = ("user", "application")
    list_filter = ("application",)
    search_fields = ("user__display_name", "user__user_principal_name", "application__name")
    ordering = ("-last_sign_in_at",)
    show_full_result_count = False
