"""Shared admin behaviour: audited saves and deletes, refusals as messages, read-only admins."""

from contextlib import contextmanager
from functools import partial

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy

from directory import audit
from directory.admin.inlines import ServiceInlineFormSet
from directory.models import AuditEvent
from directory.services import SELF_ELEVATION_DENIED, SelfElevationRefused

# Form fields whose names are never logged as "changed": password inputs, whatever they hold.
PASSWORD_FIELDS = frozenset({"password", "password1", "password2", "usable_password"})


def changelist_url(model, **filters) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return url + "?" + "&".join(f"{key}={value}" for key, value in filters.items())


@contextmanager
def refusal_names(obj):
    """Attach the object a refused self-elevation was about, for the admin's own audit event."""
    try:
        yield
    except SelfElevationRefused as refusal:
        refusal.audit_object = obj
        raise


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
            seq__gt=since_seq, action=SELF_ELEVATION_DENIED, actor_id=str(request.user.uuid)
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


class PrincipalTypeFilter(admin.SimpleListFilter):
    title = "principal type"
    parameter_name = "principal"

    def lookups(self, request, model_admin):
        return [("user", "User"), ("group", "Group")]

    def queryset(self, request, queryset):
        if self.value() in ("user", "group"):
            return queryset.filter(**{f"{self.value()}__isnull": False})
        return queryset


def principal_of(assignment) -> str:
    return str(assignment.user or assignment.group)


def refuse_two_principals(form, cleaned) -> bool:
    if (cleaned.get("user") is None) == (cleaned.get("group") is None):
        # On the user field, so the model's one-principal constraint is not reported twice.
        form.add_error("user", "Choose either a user or a group, not both.")
        return True
    return False
