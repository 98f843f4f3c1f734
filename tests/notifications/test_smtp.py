"""A real SMTP round trip: delivery talks to a local aiosmtpd server on a free port."""

import socket

import pytest
from aiosmtpd.controller import Controller

from notifications import delivery, services
from notifications.kinds import KINDS
from notifications.models import EmailStatus, Message, MessageKind

pytestmark = pytest.mark.django_db


class Sink:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield sink
    controller.stop()


def test_a_message_crosses_a_real_smtp_connection(smtp_server, reviewer):
    services.message_create(
        recipient=reviewer,
        kind=MessageKind.REMINDER,
        context=KINDS[MessageKind.REMINDER].sample,
        dedupe_key="reminder:1",
    )

    assert delivery.deliver_due().sent == 1

    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == [reviewer.email]
    raw = envelope.content.decode()
    message = Message.objects.get()
    assert message.email_status == EmailStatus.SENT
    assert f"Message-ID: {message.email_message_id}" in raw
    assert "text/html" in raw and "text/plain" in raw
