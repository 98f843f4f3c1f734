"""Directory roles and their assignments (through the services; built-in roles are fixed)."""

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from directory import audit, services
from directory.admin.base import (
    AuditedAdmin,
    PrincipalTypeFilter,
    changelist_url,
    principal_of,
    refusal_names,
    refuse_two_principals,
)
from directory.admin.inlines import INLINE_ROW_LIMIT, LockedRowForm, ServiceInlineFormSet
from directory.models import BuiltinRole, DirectoryRole, RoleAssignment


class RoleAssignmentForm(forms.ModelForm):
    class Meta:
        model = RoleAssignment
        fields = ("role", "user", "group", "kind")

    def clean(self):
        cleaned = super().clean()
        if not refuse_two_principals(self, cleaned):
            candidate = RoleAssignment(user=cleaned.get("user"), group=cleaned.get("group"))
            services.validate_role_assignment(candidate)
        return cleaned


class RoleAssignmentRowForm(RoleAssignmentForm, LockedRowForm):
    locked_fields = ("user", "group")


class RoleAssignmentFormSet(ServiceInlineFormSet):
    prefix_name = "assignments"
    row_limit = INLINE_ROW_LIMIT

    def add(self, actor, form):
        assignment = form.save(commit=False)
        assignment.role = self.instance
        with refusal_names(self.instance):
            return services.role_assignment_save(actor, assignment)

    def change(self, actor, form):
        with refusal_names(self.instance):
            services.role_assignment_save(actor, form.save(commit=False))

    def remove(self, actor, assignment):
        with refusal_names(self.instance):
            services.role_assignment_delete(actor, assignment)


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    form = RoleAssignmentRowForm
    formset = RoleAssignmentFormSet
    fields = ("user", "group", "kind", "assigned_at")
    readonly_fields = ("assigned_at",)
    autocomplete_fields = ("user", "group")
    extra = 0
    verbose_name_plural = f"assignments (first {INLINE_ROW_LIMIT} shown)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "group").order_by("kind", "id")


def _is_builtin(role) -> bool:
    return role.template_id in BuiltinRole.values


@admin.register(DirectoryRole)
class DirectoryRoleAdmin(AuditedAdmin):
    list_display = ("name", "is_privileged", "built_in", "active_count", "eligible_count")
    list_filter = ("is_privileged",)
    search_fields = ("name", "description")
    fields = ("name", "description", "template_id", "is_privileged", "all_assignments", "uuid")
    inlines = [RoleAssignmentInline]

    def get_queryset(self, request):
        return super().get_queryset(request).with_counts()

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and _is_builtin(obj):
            # Capabilities key on the built-in template ids.
            return ("name", "template_id", "is_privileged", "all_assignments", "uuid")
        return ("all_assignments", "uuid")

    @admin.display(boolean=True, description="built-in")
    def built_in(self, role):
        return _is_builtin(role)

    @admin.display(description="active", ordering="active_count")
    def active_count(self, role):
        return role.active_count

    @admin.display(description="eligible", ordering="eligible_count")
    def eligible_count(self, role):
        return role.eligible_count

    @admin.display(description="all assignments")
    def all_assignments(self, role):
        if role.pk is None:
            return "-"
        url = changelist_url(RoleAssignment, role__id__exact=role.pk)
        return format_html('<a href="{}">All assignments of {}</a>', url, role.name)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and _is_builtin(obj):
            return False
        return super().has_delete_permission(request, obj)

    def deletion_refusals(self, request, queryset):
        builtins = queryset.filter(template_id__in=BuiltinRole.values)
        return [(role, "built-in roles cannot be deleted") for role in builtins]


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(AuditedAdmin):
    form = RoleAssignmentForm
    list_display = ("role", "principal", "principal_type", "kind", "assigned_at")
    list_select_related = ("role", "user", "group")
    list_filter = ("role", "kind", PrincipalTypeFilter)
    search_fields = ("role__name", "user__display_name", "user__user_principal_name", "group__name")
    autocomplete_fields = ("role", "user", "group")
    fields = ("role", "user", "group", "kind", "assigned_at")
    readonly_fields = ("assigned_at",)
    show_full_result_count = False

    @admin.display(description="assigned to")
    def principal(self, assignment):
        return principal_of(assignment)

    @admin.display(description="principal type")
    def principal_type(self, assignment):
        return "User" if assignment.user_id else "Group"

    def save_model(self, request, obj, form, change):
        with refusal_names(obj.role):
            services.role_assignment_save(request.user, obj)

    def delete_model(self, request, obj):
        with refusal_names(obj.role):
            services.role_assignment_delete(request.user, obj)

    def deletion_refusals(self, request, queryset):
        refusals = []
        for assignment in queryset.select_related("role", "user", "group"):
            if services.role_assignment_concerns(request.user, assignment):
                reason = "you cannot remove your own role assignments"
                audit.record_denied(request, "self_elevation", assignment.role, attempt=reason)
                refusals.append((assignment, reason))
        return refusals
