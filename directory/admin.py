"""The Django admin for the directory: every write is validated and audited.

Only Global Administrators and superusers get in (directory/admin_site.py). Writes that have a
service (members, owners, nesting, role assignments, the superuser flag, deleting and restoring
users) call it, so they are checked and audited as in the portal. Every other save or delete made
here records an `admin.<model>.<added|changed|deleted>` event naming the changed fields.
"""

from contextlib import contextmanager
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import (
    AdminUserCreationForm,
    ReadOnlyPasswordHashField,
    ReadOnlyPasswordHashWidget,
    UserChangeForm,
)
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import Group as DjangoAuthGroup
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from directory import audit, services
from directory.models import (
    Application,
    ApplicationOwner,
    ApplicationSignIn,
    AppRole,
    AppRoleAssignment,
    AuditEvent,
    BuiltinRole,
    DirectoryRole,
    GrantRevocation,
    Group,
    GroupMembership,
    GroupOwner,
    MembershipType,
    NestedGroup,
    RoleAssignment,
    RoleAssignmentKind,
    TenantSettings,
    User,
)
from directory.services import SelfElevationRefused

# Inlines on a change page show at most this many rows; the linked list pages show them all.
INLINE_ROW_LIMIT = 100
DENIED_SELF_ELEVATION = "authz.denied.self_elevation"
# Form fields whose names are never logged as "changed": password inputs, whatever they hold.
PASSWORD_FIELDS = frozenset({"password", "password1", "password2", "usable_password"})


def _count_of(model, fk: str, **conditions):
    """A correlated COUNT (one index probe per row) rather than a JOIN that multiplies rows."""
    rows = model.objects.filter(**{fk: OuterRef("pk")}, **conditions).order_by()
    return Coalesce(Subquery(rows.values(fk).annotate(n=Count("pk")).values("n")), 0)


def _changelist_url(model, **filters) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return url + "?" + "&".join(f"{key}={value}" for key, value in filters.items())


def _unmanaged_message(group: Group) -> str:
    return f"Members of {group.name} cannot be changed here: {group.unmanaged_reason}."


def _breakable_upn(upn: str):
    """A guest's long UPN may wrap after its #EXT# (UPNs have no spaces to wrap at)."""
    return mark_safe(escape(upn).replace("#EXT#", "#EXT#<wbr>"))  # noqa: S308


def _is_autocomplete_for(request, model_name: str, field_name: str) -> bool:
    return (
        request.GET.get("model_name") == model_name and request.GET.get("field_name") == field_name
    )


@contextmanager
def refusal_names(obj):
    """Attach the object a refused self-elevation was about, for the admin's own audit event."""
    try:
        yield
    except SelfElevationRefused as refusal:
        refusal.audit_object = obj
        raise


# --- Shared behaviour ----------------------------------------------------------------------


class AuditedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose plain saves and deletes are audited, and whose refusals are messages."""

    actions = ["delete_selected"]
    # Changes to these fields are not logged as "changed" (a service logs them, or a password).
    audit_skip_fields = PASSWORD_FIELDS
    # Small configuration models log the new values as well as the changed field names.
    audit_values = False

    def audit_admin(self, request, verb: str, obj, **details):
        return audit.record(request.user, f"admin.{obj._meta.model_name}.{verb}", obj, details)

    def audit_details(self, request, obj, form, change) -> dict:
        fields = [name for name in form.changed_data if name not in self.audit_skip_fields]
        details = {"fields": fields}
        if self.audit_values:
            details["values"] = {name: obj.serializable_value(name) for name in fields}
        return details

    def save_model(self, request, obj, form, change):
        obj.save()
        details = self.audit_details(request, obj, form, change)
        if not change or details["fields"]:
            self.audit_admin(request, "changed" if change else "added", obj, **details)

    def delete_model(self, request, obj):
        self.audit_admin(request, "deleted", obj)
        obj.delete()

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        if isinstance(formset, ServiceInlineFormSet):
            formset.save_through_services(request.user)
            return
        formset.save(commit=False)
        parent = list(audit.object_ref(form.instance))
        for obj in formset.deleted_objects:
            self.audit_admin(request, "deleted", obj, parent=parent)
            obj.delete()
        for obj in formset.new_objects:
            obj.save()
            self.audit_admin(request, "added", obj, parent=parent)
        for obj, fields in formset.changed_objects:
            obj.save()
            self.audit_admin(request, "changed", obj, parent=parent, fields=fields)
        formset.save_m2m()

    # A service refusal raised while saving becomes a message instead of a 500 or a bare 403.

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        view = partial(super().changeform_view, request, object_id, form_url, extra_context)
        return self._refusals_as_messages(request, view, request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        view = partial(super().delete_view, request, object_id, extra_context)
        change_url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[object_id]
        )
        return self._refusals_as_messages(request, view, change_url)

    def _refusals_as_messages(self, request, view, redirect_to):
        if request.method != "POST":
            return view()
        head_seq, _ = audit.chain_head()
        try:
            return view()
        except SelfElevationRefused as refusal:
            self._audit_refusal(request, refusal, head_seq)
            self.message_user(request, str(refusal), messages.ERROR)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        return HttpResponseRedirect(redirect_to)

    def _audit_refusal(self, request, refusal, since_seq: int) -> None:
        # The service audits the attempt inside its transaction, which the refusal rolls back.
        survived = AuditEvent.objects.filter(
            seq__gt=since_seq, action=DENIED_SELF_ELEVATION, actor_id=str(request.user.uuid)
        ).exists()
        if not survived:
            obj = getattr(refusal, "audit_object", None)
            audit.record_denied(request, "self_elevation", obj, attempt=str(refusal))

    # Bulk delete: refused rows are named and left out before Django's confirmation page.

    def deletion_refusals(self, request, queryset) -> list[tuple[object, str]]:
        """(object, reason) for each selected object that must not be deleted."""
        return []

    @admin.action(
        permissions=["delete"], description=gettext_lazy("Delete selected %(verbose_name_plural)s")
    )
    def delete_selected(self, request, queryset):
        refusals = self.deletion_refusals(request, queryset)
        for obj, reason in refusals:
            self.message_user(request, f"{obj} was not deleted: {reason}.", messages.WARNING)
        queryset = queryset.exclude(pk__in=[obj.pk for obj, _ in refusals])
        if not queryset.exists():
            return None
        return django_delete_selected(self, request, queryset)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A list and detail view only: records that only their owners' code may write."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RelatedLinkWidget(forms.Widget):
    """Shows a saved row's related object as a link to its page (no query, nothing to edit)."""

    def __init__(self, related):
        super().__init__()
        self.related = related

    def render(self, name, value, attrs=None, renderer=None):
        if self.related is None:
            return format_html('<div class="readonly">-</div>')
        meta = self.related._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[self.related.pk])
        return format_html('<div class="readonly"><a href="{}">{}</a></div>', url, self.related)


class LockedRowForm(forms.ModelForm):
    """An inline row whose principal is fixed once saved: remove the row and add another."""

    locked_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        for name in self.locked_fields:
            if name in self.fields:
                self.fields[name].disabled = True
                self.fields[name].widget = RelatedLinkWidget(getattr(self.instance, name))


class PrefixedInlineFormSet(forms.BaseInlineFormSet):
    """A readable form prefix, and at most `row_limit` rows (the list page has the rest)."""

    prefix_name = ""
    row_limit: int | None = None

    @classmethod
    def get_default_prefix(cls):
        return cls.prefix_name or super().get_default_prefix()

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            queryset = super().get_queryset()
            self._queryset = queryset[: self.row_limit] if self.row_limit else queryset
        return self._queryset


class ServiceInlineFormSet(PrefixedInlineFormSet):
    """Inline rows that a directory service adds, changes and removes (validated and audited)."""

    def added_forms(self):
        return [
            form
            for form in self.extra_forms
            if form.has_changed() and not self._should_delete_form(form)
        ]

    def changed_forms(self):
        return [
            form
            for form in self.initial_forms
            if form.has_changed() and not self._should_delete_form(form)
        ]

    def removed_forms(self):
        return [form for form in self.initial_forms if self._should_delete_form(form)]

    def save_through_services(self, actor) -> None:
        # The admin's change message reads these three lists, as formset.save() would set them.
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        for form in self.removed_forms():
            self.remove(actor, form.instance)
            self.deleted_objects.append(form.instance)
        for form in self.changed_forms():
            self.change(actor, form)
            self.changed_objects.append((form.instance, form.changed_data))
        for form in self.added_forms():
            self.new_objects.append(self.add(actor, form))

    def add(self, actor, form):
        raise NotImplementedError

    def change(self, actor, form):
        raise NotImplementedError(f"{type(self).__name__} rows cannot be changed")

    def remove(self, actor, obj):
        raise NotImplementedError


class PrincipalTypeFilter(admin.SimpleListFilter):
    title = "principal type"
    parameter_name = "principal"

    def lookups(self, request, model_admin):
        return [("user", "User"), ("group", "Group")]

    def queryset(self, request, queryset):
        if self.value() in ("user", "group"):
            return queryset.filter(**{f"{self.value()}__isnull": False})
        return queryset


def _principal(assignment) -> str:
    return str(assignment.user or assignment.group)


def _refuse_two_principals(form, cleaned) -> bool:
    if (cleaned.get("user") is None) == (cleaned.get("group") is None):
        # On the user field, so the model's one-principal constraint is not reported twice.
        form.add_error("user", "Choose either a user or a group, not both.")
        return True
    return False


# --- Users ---------------------------------------------------------------------------------


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
    actions = ["delete_selected", "restore_users"]
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
        url = _changelist_url(GroupMembership, user__id__exact=user.pk)
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


# --- Groups --------------------------------------------------------------------------------


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


class UserRowForm(LockedRowForm):
    locked_fields = ("user",)


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
            raise ValidationError(_unmanaged_message(group))

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
            raise ValidationError(_unmanaged_message(group))
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


class GroupOwnerInline(admin.TabularInline):
    model = GroupOwner
    form = UserRowForm
    formset = OwnerFormSet
    fields = ("user", "added_at")
    readonly_fields = ("added_at",)
    autocomplete_fields = ("user",)
    extra = 0
    verbose_name, verbose_name_plural = "owner", "owners"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").order_by("user__display_name")


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
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=_count_of(GroupMembership, "group"),
                owner_count=_count_of(GroupOwner, "group"),
            )
        )

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
        url = _changelist_url(GroupMembership, group__id__exact=group.pk)
        return format_html('<a href="{}">{} direct members</a>', url, count)


class GroupMembershipForm(forms.ModelForm):
    class Meta:
        model = GroupMembership
        fields = ("group", "user")

    def clean(self):
        cleaned = super().clean()
        group = cleaned.get("group")
        if group is not None and not group.membership_is_managed_here:
            self.add_error("group", _unmanaged_message(group))
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


# --- Applications --------------------------------------------------------------------------


class ApplicationOwnerInline(admin.TabularInline):
    model = ApplicationOwner
    form = UserRowForm
    fields = ("user", "added_at")
    readonly_fields = ("added_at",)
    autocomplete_fields = ("user",)
    extra = 0
    verbose_name, verbose_name_plural = "owner", "owners"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").order_by("user__display_name")


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
        return (
            super()
            .get_queryset(request)
            .annotate(
                assignment_count=_count_of(AppRoleAssignment, "app_role__application"),
                owner_count=_count_of(ApplicationOwner, "application"),
            )
        )

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
        url = _changelist_url(AppRoleAssignment, app_role__application__id__exact=application.pk)
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
        _refuse_two_principals(self, cleaned)
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
        return _principal(assignment)


@admin.register(ApplicationSignIn)
class ApplicationSignInAdmin(ReadOnlyAdmin):
    list_display = ("user", "application", "last_sign_in_at")
    list_select_related = ("user", "application")
    list_filter = ("application",)
    search_fields = ("user__display_name", "user__user_principal_name", "application__name")
    ordering = ("-last_sign_in_at",)
    show_full_result_count = False


# --- Directory roles -----------------------------------------------------------------------


class RoleAssignmentForm(forms.ModelForm):
    class Meta:
        model = RoleAssignment
        fields = ("role", "user", "group", "kind")

    def clean(self):
        cleaned = super().clean()
        if not _refuse_two_principals(self, cleaned):
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
        return (
            super()
            .get_queryset(request)
            .annotate(
                active_count=_count_of(RoleAssignment, "role", kind=RoleAssignmentKind.ACTIVE),
                eligible_count=_count_of(RoleAssignment, "role", kind=RoleAssignmentKind.ELIGIBLE),
            )
        )

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
        url = _changelist_url(RoleAssignment, role__id__exact=role.pk)
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
        return _principal(assignment)

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


# --- Audit, revocations, tenant ------------------------------------------------------------


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


@admin.register(TenantSettings)
class TenantSettingsAdmin(AuditedAdmin):
    list_display = ("__str__", "group_owners_can_manage_reviews")
    audit_values = True

    def has_add_permission(self, request):
        return not TenantSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = 1  # the singleton (constraint tenant_settings_singleton)
        super().save_model(request, obj, form, change)


# The portal's permissions come from directory roles (directory.capabilities), never from
# Django's auth groups, which would only be confused with directory groups here.
if admin.site.is_registered(DjangoAuthGroup):
    admin.site.unregister(DjangoAuthGroup)
