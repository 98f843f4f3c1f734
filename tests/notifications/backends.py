"""Email backends for delivery tests: one that is down, one that comes back."""

import smtplib

from django.core.mail.backends.locmem import EmailBackend as LocmemBackend


class OutageBackend(LocmemBackend):
    """Refuses every message while `down` is true, then behaves like locmem."""

    down = True

    def send_messages(self, messages):
        if OutageBackend.down:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)
