from functools import update_wrapper

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied


class PortalAdminSite(AdminSite):
    """The Django admin, open to Global Administrators and superusers only.

    A signed-in person without that capability gets a 403 (and an audit event) rather than
    Django's "log in as another user" page.
    """

    site_header = "Access reviews administration"
    site_title = "Access reviews admin"
    index_title = "Directory and review administration"
    # The sidebar squeezes wide changelists (users) into a sideways scroll at laptop widths.
    enable_nav_sidebar = False

    def has_permission(self, request):
        from directory.capabilities import capabilities_for  # models are not loaded at import

        return capabilities_for(request.user).use_django_admin

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def refuse_the_signed_in_without_capability(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                from directory import audit

                audit.record_denied(request, "django_admin")
                raise PermissionDenied("The Django admin is for Global Administrators.")
            return inner(request, *args, **kwargs)

        return update_wrapper(refuse_the_signed_in_without_capability, view)


class PortalAdminConfig(AdminConfig):
    default_site = "directory.admin_site.PortalAdminSite"
