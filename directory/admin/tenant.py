"""The tenant settings singleton; changes log their new values."""

from django.contrib import admin

from directory.admin.base import AuditedAdmin
from directory.models import TenantSettings


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
