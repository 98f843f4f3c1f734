"""Groups, their owners, members and nested groups, and memberships (through the services)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from directory import services
from directory.admin.base import AuditedAdmin, changelist_url, refusal_names
from directory.admin.inlines import (
    INLINE_ROW_LIMIT,
    LockedRowForm,
    OwnerInline,
    PrefixedInlineFormSet,
    ServiceInlineFormSet,
)
from directory.models import (
    Group,
    GroupMembership,
    GroupOwner,
    MembershipType,
    NestedGroup,
    RoleAssignment,
)


def _is_autocomplete_for(request, model_name: str, field_name: str) -> bool:
    return (
        request.GET.get("model_name") == model_name and request.GET.get("field_name") == field_name
    )


class GroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = (
            "name",
            "description",
            "kind",
            "membership_type",
            "source",
            "is_role_assignable",
            "external_id",
        )

    def clean(self):
        cleaned = super().clean()
        group = self.instance
        role_assignable = cleaned.get("is_role_assignable")
        if role_assignable and cleaned.get("membership_type") == MembershipType.DYNAMIC:
            self.add_error(
                "membership_type", "Role-assignable groups cannot have dynamic membership."
            )
        if group.pk and role_assignable and NestedGroup.objects.filter(parent=group).exists():
            self.add_error(
                "is_role_assignable",
                f"{group.name} contains groups, and role-assignable groups cannot contain "
                "groups: remove its member groups first.",
            )
        if (
            group.pk
            and "is_role_assignable" in self.changed_data
            and not role_assignable
            and RoleAssignment.objects.filter(group=group).exists()
        ):
            self.add_error(
                "is_role_assignable",
                f"{group.name} holds directory roles: remove its role assignments first.",
            )
        return cleaned


class ChildGroupRowForm(LockedRowForm):
    locked_fields = ("child",)


class OwnerFormSet(ServiceInlineFormSet):
    prefix_name = "owners"

    def add(self, actor, form):
        return services.group_owner_add(actor, self.instance, form.cleaned_data["user"])

    def remove(self, actor, owner):
        services.group_owner_remove(actor, self.instance, owner.user)


class MemberFormSet(ServiceInlineFormSet):
    prefix_name = "members"
    row_limit = INLINE_ROW_LIMIT

    def clean(self):
        super().clean()
        group = self.instance
        if (self.added_forms() or self.removed_forms()) and not group.membership_is_managed_here:
            raise ValidationError(group.unmanaged_message)

    def add(self, actor, form):
        with refusal_names(self.instance):
            return services.group_member_add(actor, self.instance, form.cleaned_data["user"])

    def remove(self, actor, membership):
        services.group_member_remove(actor, self.instance, membership.user)


class MemberGroupFormSet(ServiceInlineFormSet):
    prefix_name = "member_groups"
    row_limit = INLINE_ROW_LIMIT

    def clean(self):
        super().clean()
        group = self.instance
        if self.removed_forms() and not group.membership_is_managed_here:
            raise ValidationError(group.unmanaged_message)
        for form in self.added_forms():
            child = form.cleaned_data.get("child")
            if child is None:
                continue
            try:
                services.validate_nesting(group, child)
            except ValidationError as error:
                form.add_error("child", error)

    def add(self, actor, form):
        return services.group_nest(actor, self.instance, form.cleaned_data["child"])

    def remove(self, actor, nested):
        services.group_unnest(actor, self.instance, nested.child)


class ParentGroupFormSet(PrefixedInlineFormSet):
    prefix_name = "member_of"
    row_limit = INLINE_ROW_LIMIT


class GroupOwnerInline(OwnerInline):
    model = GroupOwner
    formset = OwnerFormSet


class GroupMemberInline(GroupOwnerInline):
    model = GroupMembership
    formset = MemberFormSet
    verbose_name = "direct member"
    verbose_name_plural = f"direct members (users; first {INLINE_ROW_LIMIT} shown)"


class MemberGroupInline(admin.TabularInline):
    model = NestedGroup
    fk_name = "parent"
    form = ChildGroupRowForm
    formset = MemberGroupFormSet
    fields = ("child", "added_at")
    readonly_fields = ("added_at",)
    autocomplete_fields = ("child",)
    extra = 0
    verbose_name, verbose_name_plural = "member group", "member groups (nested)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("child").order_by("child__name")


class ParentGroupInline(admin.TabularInline):
    model = NestedGroup
    fk_name = "child"
    formset = ParentGroupFormSet
    fields = ("parent",)
    readonly_fields = ("parent",)
    extra = 0
    verbose_name, verbose_name_plural = "parent group", "member of (parent groups)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("parent").order_by("parent__name")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Group)
class GroupAdmin(AuditedAdmin):
    form = GroupForm
    list_display = (
        "name",
        "kind",
        "membership_type",
        "source",
        "is_role_assignable",
        "member_count",
        "owner_count",
    )
    list_filter = ("kind", "membership_type", "source", "is_role_assignable")
    search_fields = ("name", "description", "external_id")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("name", "description", "kind")}),
        (
            "Membership",
            {
                "fields": (
                    "membership_type",
                    "source",
                    "is_role_assignable",
                    "membership_managed",
                    "all_members",
                )
            },
        ),
        ("Record", {"fields": ("external_id", "created_at", "uuid")}),
    )
    readonly_fields = ("membership_managed", "all_members", "created_at", "uuid")
    inlines = [GroupOwnerInline, GroupMemberInline, MemberGroupInline, ParentGroupInline]

    def get_queryset(self, request):
        return super().get_queryset(request).with_counts()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else self.inlines[:-1]

    def get_search_results(self, request, queryset, search_term):
        if _is_autocomplete_for(request, "roleassignment", "group"):
            queryset = queryset.filter(is_role_assignable=True)  # only these may hold roles
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="direct members", ordering="member_count")
    def member_count(self, group):
        return group.member_count

    @admin.display(description="owners", ordering="owner_count")
    def owner_count(self, group):
        return group.owner_count

    @admin.display(description="managed here")
    def membership_managed(self, group):
        if group.membership_is_managed_here:
            return "Yes: members can be added and removed here."
        return f"No: {group.unmanaged_reason}."

    @admin.display(description="all direct members")
    def all_members(self, group):
        if group.pk is None:
            return "-"
        count = getattr(group, "member_count", None)
        if count is None:
            count = GroupMembership.objects.filter(group=group).count()
        url = changelist_url(GroupMembership, group__id__exact=group.pk)
        return format_html('<a href="{}">{} direct members</a>', url, count)


class GroupMembershipForm(forms.ModelForm):
    class Meta:
        model = GroupMembership
        fields = ("group", "user")

    def clean(self):
        cleaned = super().clean()
        group = cleaned.get("group")
        if group is not None and not group.membership_is_managed_here:
            self.add_error("group", group.unmanaged_message)
        return cleaned


@admin.register(GroupMembership)
class GroupMembershipAdmin(AuditedAdmin):
    form = GroupMembershipForm
    list_display = ("user", "group", "added_at")
    list_select_related = ("user", "group")
    list_filter = ("group__membership_type", "group__source")
    search_fields = ("user__display_name", "user__user_principal_name", "group__name")
    autocomplete_fields = ("group", "user")
    fields = ("group", "user", "added_at")
    readonly_fields = ("added_at",)
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False  # a membership has nothing to edit: remove it and add another

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.group.membership_is_managed_here:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        with refusal_names(obj.group):
            membership = services.group_member_add(request.user, obj.group, obj.user)
        obj.pk, obj.added_at, obj._state.adding = membership.pk, membership.added_at, False

    def delete_model(self, request, obj):
        services.group_member_remove(request.user, obj.group, obj.user)

    def deletion_refusals(self, request, queryset):
        return [
            (membership, membership.group.unmanaged_reason)
            for membership in queryset.select_related("group", "user")
            if not membership.group.membership_is_managed_here
        ]
