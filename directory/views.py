"""Directory pages: users, groups, applications, roles and the audit log, read-only.

Admins and readers only (capabilities.view_directory / view_audit_log); anyone else signed in
gets a 403, and the refusal is audited.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from directory import audit, guests, selectors
from directory.capabilities import capabilities_for
from directory.models import GroupKind, GroupSource, MembershipType, User, UserType


def reader_page(capability: str, denied: str, reason: str):
    """Guard a GET-only page: anonymous -> sign in; signed in without `capability` -> 403."""

    def decorate(view):
        @require_safe
        @login_required
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if not getattr(capabilities_for(request.user), capability):
                audit.record_denied(request, denied)
                raise PermissionDenied(reason)
            return view(request, *args, **kwargs)

        return guarded

    return decorate


directory_page = reader_page(
    "view_directory",
    "directory",
    "The directory is open to administrators and readers (for example Global Reader).",
)
audit_log_page = reader_page(
    "view_audit_log",
    "audit_log",
    "The audit log is open to administrators and readers (for example Security Reader).",
)


def _page(request, queryset):
    return Paginator(queryset, selectors.PAGE_SIZE).get_page(request.GET.get("page"))


@directory_page
def user_list(request):
    filters = selectors.UserFilter.from_params(request.GET)
    context = {
        "nav": "users",
        "filters": filters,
        "page": _page(request, selectors.user_list(filters)),
        "user_types": UserType.choices,
        "statuses": selectors.USER_STATUSES.items(),
    }
    return render(request, "directory/user_list.html", context)


@directory_page
def user_detail(request, uuid):
    profile = selectors.user_profile(uuid)
    return render(request, "directory/user_detail.html", {"nav": "users", "profile": profile})


@require_POST
@login_required
def user_reenable(request, uuid):
    """Cancel a blocked guest's scheduled deletion and let them sign in again (admins only)."""
    if not capabilities_for(request.user).use_django_admin:
        audit.record_denied(request, "user_reenable")
        raise PermissionDenied("Only Global Administrators re-enable accounts.")
    user = get_object_or_404(User, uuid=uuid)
    try:
        if guests.user_reenable(request.user, user):
            messages.success(
                request, f"{user.display_name} can sign in again; the deletion is off."
            )
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    return redirect("directory:user-detail", uuid=user.uuid)


@directory_page
def group_list(request):
    filters = selectors.GroupFilter.from_params(request.GET)
    context = {
        "nav": "groups",
        "filters": filters,
        "page": _page(request, selectors.group_list(filters)),
        "kinds": GroupKind.choices,
        "membership_types": MembershipType.choices,
        "sources": GroupSource.choices,
        "owner_filters": selectors.OWNER_FILTERS.items(),
    }
    return render(request, "directory/group_list.html", context)


@directory_page
def group_detail(request, uuid):
    page = selectors.group_page(uuid)
    return render(request, "directory/group_detail.html", {"nav": "groups", "g": page})


@directory_page
def application_list(request):
    filters = selectors.ApplicationFilter.from_params(request.GET)
    context = {
        "nav": "applications",
        "filters": filters,
        "page": _page(request, selectors.application_list(filters)),
        "assignment_filters": selectors.ASSIGNMENT_FILTERS.items(),
    }
    return render(request, "directory/application_list.html", context)


@directory_page
def application_detail(request, uuid):
    page = selectors.application_page(uuid)
    return render(request, "directory/application_detail.html", {"nav": "applications", "a": page})


@directory_page
def role_list(request):
    context = {"nav": "roles", "roles": selectors.role_list()}
    return render(request, "directory/role_list.html", context)


@directory_page
def role_detail(request, uuid):
    page = selectors.role_page(uuid)
    return render(request, "directory/role_detail.html", {"nav": "roles", "r": page})


@audit_log_page
def audit_list(request):
    filters = selectors.AuditFilter.from_params(request.GET)
    context = {
        "nav": "audit",
        "filters": filters,
        "page": selectors.audit_page(filters),
        "chain_head": audit.chain_head(),
    }
    return render(request, "directory/audit_list.html", context)
