"""Users: create with or without a password, tombstone and restore, audited superuser flag."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import (
    AdminUserCreationForm,
    ReadOnlyPasswordHashField,
    ReadOnlyPasswordHashWidget,
    UserChangeForm,
)
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from directory import audit, guests, services
from directory.admin.base import PASSWORD_FIELDS, AuditedAdmin, changelist_url, refusal_names
from directory.models import GroupMembership, User


def _breakable_upn(upn: str):
    """A guest's long UPN may wrap after its #EXT# (UPNs have no spaces to wrap at)."""
    return mark_safe(escape(upn).replace("#EXT#", "#EXT#<wbr>"))  # noqa: S308


class PasswordStateWidget(ReadOnlyPasswordHashWidget):
    """Whether a password is set, and Django's change-password button; no part of the hash."""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if value and not value.startswith(UNUSABLE_PASSWORD_PREFIX):
            context["summary"] = [{"label": "Password set."}]
        else:
            context["summary"] = [{"label": "No password: the user sets one by resetting it."}]
        return context


class UserEditForm(UserChangeForm):
    """The change form: the password is read-only, changed through Django's password page."""

    password = ReadOnlyPasswordHashField(label="Password", widget=PasswordStateWidget)

    class Meta:
        model = User
        fields = "__all__"


class UserCreateForm(AdminUserCreationForm):
    """Create a user with a password, or without one (they then use the password reset flow)."""

    class Meta:
        model = User
        fields = ("user_principal_name", "display_name", "email", "user_type")


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "Not deleted"), ("yes", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    actions = ["delete_selected", "restore_users", "reenable_blocked_users"]
    list_display = (
        "display_name",
        "upn",
        "email",
        "type",
        "enabled",
        "deleted",
        "last_sign_in",
        "manager_name",
    )
    list_filter = (
        "user_type",
        "is_active",
        DeletedFilter,
        "guest_invitation_accepted",
        "department",
    )
    list_select_related = ("manager",)
    search_fields = ("display_name", "user_principal_name", "email", "external_id")
    ordering = ("display_name", "id")
    show_full_result_count = False
    autocomplete_fields = ("manager",)
    filter_horizontal = ()
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "user_principal_name",
                    "display_name",
                    "email",
                    "user_type",
                    "guest_invitation_accepted",
                    "password",
                )
            },
        ),
        ("Organisation", {"fields": ("department", "job_title", "manager", "time_zone")}),
        ("Account", {"fields": ("is_active", "is_superuser", "external_id")}),
        (
            "Activity",
            {
                "fields": (
                    "group_memberships",
                    "last_sign_in_at",
                    "last_login",
                    "created_at",
                    "deleted_at",
                    "uuid",
                )
            },
        ),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "user_principal_name",
                    "display_name",
                    "email",
                    "user_type",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    readonly_fields = (
        "group_memberships",
        "last_sign_in_at",
        "last_login",
        "created_at",
        "deleted_at",
        "uuid",
    )
    # user_set_superuser records its own event.
    audit_skip_fields = PASSWORD_FIELDS | {"is_superuser"}

    # Short headings and dates: the list has eight columns beside the navigation and filters.

    @admin.display(description="user principal name", ordering="user_principal_name")
    def upn(self, user):
        return _breakable_upn(user.user_principal_name)

    @admin.display(description="type", ordering="user_type")
    def type(self, user):
        return user.get_user_type_display()

    @admin.display(boolean=True, description="enabled", ordering="is_active")
    def enabled(self, user):
        return user.is_active

    @admin.display(description="last sign-in", ordering="last_sign_in_at")
    def last_sign_in(self, user):
        if user.last_sign_in_at is None:
            return None
        return date_format(timezone.localtime(user.last_sign_in_at), "Y-m-d H:i")

    @admin.display(boolean=True, description="deleted", ordering="deleted_at")
    def deleted(self, user):
        return user.deleted_at is not None

    @admin.display(description="manager", ordering="manager__display_name")
    def manager_name(self, user):
        return user.manager.display_name if user.manager else None

    @admin.display(description="groups")
    def group_memberships(self, user):
        if user.pk is None:
            return "-"
        count = GroupMembership.objects.filter(user=user).count()
        url = changelist_url(GroupMembership, user__id__exact=user.pk)
        return format_html('<a href="{}">{} direct group memberships</a>', url, count)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.pk == request.user.pk:
            # Nobody changes their own superuser flag (the service refuses it too).
            readonly = (*readonly, "is_superuser")
        return readonly

    def get_search_results(self, request, queryset, search_term):
        if request.GET.get("field_name"):  # an autocomplete: never offer deleted users
            queryset = queryset.filter(deleted_at__isnull=True)
        return super().get_search_results(request, queryset, search_term)

    def audit_details(self, request, obj, form, change):
        details = super().audit_details(request, obj, form, change)
        if not change:
            details["usable_password"] = obj.has_usable_password()
        return details

    def save_model(self, request, obj, form, change):
        if "is_active" in form.changed_data and obj.is_active:
            obj.deletion_scheduled_at = None  # enabled again: the blocked guest is kept
        wanted = obj.is_superuser
        if "is_superuser" in form.changed_data:
            obj.is_superuser = not wanted  # the stored value; the service makes the change
        super().save_model(request, obj, form, change)
        if obj.is_superuser != wanted:
            with refusal_names(obj):
                services.user_set_superuser(request.user, obj, wanted)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and (obj.pk == request.user.pk or obj.deleted_at is not None):
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        # A user is tombstoned, not deleted: nothing cascades and nothing is protected.
        described = [
            format_html(
                "{} (disabled and marked deleted; their memberships, ownerships and "
                "assignments are removed; the account and its history are kept)",
                user,
            )
            for user in objs
        ]
        return described, {self.opts.verbose_name_plural: len(described)}, set(), []

    def delete_model(self, request, obj):
        services.user_tombstone(request.user, obj)

    def deletion_refusals(self, request, queryset):
        refused = queryset.filter(Q(pk=request.user.pk) | Q(deleted_at__isnull=False))
        return [
            (
                user,
                "you cannot delete your own account" if user == request.user else "already deleted",
            )
            for user in refused
        ]

    @admin.action(description="Restore deleted users", permissions=["change"])
    def restore_users(self, request, queryset):
        restored = 0
        for user in queryset.filter(deleted_at__isnull=False):
            services.user_restore(request.user, user)
            restored += 1
        self.message_user(
            request,
            f"Restored {restored} user(s). Access removed when they were deleted is not "
            "restored, and they set a password through the password reset flow.",
            messages.SUCCESS,
        )

    @admin.action(
        description="Re-enable blocked guests (cancel their deletion)", permissions=["change"]
    )
    def reenable_blocked_users(self, request, queryset):
        reenabled = 0
        for user in queryset.filter(deleted_at__isnull=True, deletion_scheduled_at__isnull=False):
            reenabled += guests.user_reenable(request.user, user)
        self.message_user(
            request,
            f"Re-enabled {reenabled} account(s); their scheduled deletion is cancelled.",
            messages.SUCCESS,
        )

    def user_change_password(self, request, id, form_url=""):
        with transaction.atomic():
            user = self.get_object(request, unquote(id))
            before = user.password if user is not None else None
            response = super().user_change_password(request, id, form_url)
            if user is not None and request.method == "POST":
                user.refresh_from_db(fields=["password"])
            if user is not None and user.password != before:
                audit.record(
                    request.user,
                    "admin.user.password_changed",
                    user,
                    {"usable_password": user.has_usable_password()},
                )
        return response
