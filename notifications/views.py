"""Inbox and delivery log (placeholders until the pages land)."""

from django.http import HttpResponse


def _todo(request, **kwargs):
    return HttpResponse("coming soon")


inbox = inbox_read_all = message_detail = message_open = message_read = _todo
delivery_log = message_resend = _todo
