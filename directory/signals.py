"""Audit events for sign-in activity (failed sign-ins are failed authentications, ASVS 16.3)."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import Signal, receiver

from directory import audit

# Sent after an import's transaction committed (never for a dry run), with `counts`: apps that
# keep state derived from the directory (the review engine's verification) refresh it.
directory_imported = Signal()


def _client(request) -> dict:
    if request is None:
        return {}
    return {"ip": request.META.get("REMOTE_ADDR", ""), "path": request.path[:300]}


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def audit_sign_in(sender, request, user, **kwargs):
    audit.record(user, "auth.sign_in", user, _client(request))


@receiver(user_logged_out, dispatch_uid="audit_sign_out")
def audit_sign_out(sender, request, user, **kwargs):
    if user is not None:
        audit.record(user, "auth.sign_out", user, _client(request))


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def audit_sign_in_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:254]
    audit.record(
        audit.Actor("anonymous", "", username),
        "auth.sign_in_failed",
        None,
        {"username": username, **_client(request)},
    )


@receiver(user_locked_out, dispatch_uid="audit_locked_out")
def audit_locked_out(sender, request, username, ip_address, **kwargs):
    audit.record(
        audit.Actor("anonymous", "", str(username or "")[:254]),
        "auth.locked_out",
        None,
        {"username": str(username or "")[:254], "ip": ip_address or ""},
    )
