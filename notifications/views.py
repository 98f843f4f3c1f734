"""The inbox (every signed-in person, their own messages only) and the admins' delivery log.

Nothing changes on a GET: opening a message, marking it read and resending are POSTs.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from directory import audit
from directory.capabilities import capabilities_for
from notifications import selectors, services
from notifications.forms import DeliveryFilterForm, InboxFilterForm
from notifications.models import EmailStatus

DELIVERY_LOG_REFUSED = "The delivery log is for administrators (Global Administrator)."


def _back(request, default: str) -> str:
    """The `next` the form posted when it is a path on this portal, else `default`."""
    return selectors.local_link(request.POST.get("next", "")) or default


def admin_only(view):
    """Anonymous -> sign in; signed in without the Django-admin capability -> 403, audited."""

    @login_required
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not capabilities_for(request.user).use_django_admin:
            audit.record_denied(request, "delivery_log")
            raise PermissionDenied(DELIVERY_LOG_REFUSED)
        return view(request, *args, **kwargs)

    return guarded


# --- Inbox ------------------------------------------------------------------------------------


@require_safe
@login_required
def inbox(request):
    form = InboxFilterForm(request.GET)
    unread_only = form.is_valid() and form.cleaned_data["unread"]
    page = selectors.inbox_page(request.user, request.GET, unread_only=unread_only)
    context = {"nav": "inbox", "page": page, "unread_only": unread_only}
    return render(request, "notifications/inbox.html", context)


@require_POST
@login_required
def inbox_read_all(request):
    marked = services.message_mark_read(request.user)
    messages.success(request, f"Marked {marked} message{'s' if marked != 1 else ''} as read.")
    return redirect(_back(request, reverse("notifications:inbox")))


@require_safe
@login_required
def message_detail(request, uuid):
    message = selectors.message_for_recipient(request.user, uuid)
    content = selectors.message_content(message, request.user)
    context = {
        "nav": "inbox",
        "message": message,
        "content": content,
        "text": selectors.without_signature(content.text),
        "in_digest": selectors.sent_in_digest(message),
        "link": selectors.local_link(message.link),
        "link_label": selectors.LINK_LABELS.get(message.kind, "Open the page it is about"),
    }
    return render(request, "notifications/message_detail.html", context)


@require_POST
@login_required
def message_open(request, uuid):
    """Mark the message read and go to what it is about (only ever a page of this portal)."""
    message = selectors.message_for_recipient(request.user, uuid)
    services.message_mark_read(request.user, [message.id])
    link = selectors.local_link(message.link)
    return redirect(link or reverse("notifications:message-detail", args=[message.uuid]))


@require_POST
@login_required
def message_read(request, uuid):
    message = selectors.message_for_recipient(request.user, uuid)
    services.message_mark_read(request.user, [message.id])
    return redirect(_back(request, reverse("notifications:inbox")))


# --- Delivery log (admins) ---------------------------------------------------------------------


@require_safe
@admin_only
def delivery_log(request):
    form = DeliveryFilterForm(request.GET)
    form.is_valid()  # the fields that validate still filter; the others show their error
    filters = form.delivery_filter()
    context = {
        "nav": "deliveries",
        "form": form,
        "filters": filters,
        "page": selectors.delivery_log_page(filters, request.GET),
    }
    return render(request, "notifications/delivery_log.html", context)


@require_POST
@admin_only
def message_resend(request, uuid):
    message = selectors.message_by_uuid(uuid)
    if not message.can_resend:
        messages.warning(
            request,
            f"Not resent: the email to {message.recipient.display_name} is "
            f"{message.get_email_status_display().lower()}. "
            "Only failed or skipped messages can be resent.",
        )
    else:
        was_skipped = message.email_status == EmailStatus.SKIPPED
        services.message_resend(request.user, message)
        recheck = (
            " Whether it can be emailed is checked again when it goes out." if was_skipped else ""
        )
        messages.success(
            request,
            f"Queued the {message.get_kind_display().lower()} message to "
            f"{message.recipient.display_name} again.{recheck}",
        )
    return redirect(_back(request, reverse("notifications:delivery-log")))
