"""Notifications: creating messages set-based, and delivering them by email (issue 3).

notifications.create_N: `messages_create_many` for N recipients, against the bare
INSERT ... SELECT of the same rows (same columns, same values) into the same table.

notifications.deliver_N: `deliver_due` until nothing is due, N messages of a kind that is not
digested (one email each) to an SMTP sink in this process, against sending the same N emails,
rendered beforehand, through the same SMTP backend on one connection.
"""

import socket
import sys

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.test.utils import override_settings
from django.utils import timezone

from benchmarks.data import create_users, uuid_sql
from benchmarks.harness import BASELINE, RUN, Benchmark, BenchmarkError, human_count
from notifications.delivery import BATCH_SIZE, deliver_due, stable_message_id
from notifications.kinds import KINDS
from notifications.models import DIGESTIBLE_KINDS, EmailStatus, Message, MessageKind
from notifications.rendering import render_message
from notifications.services import messages_create_many

CREATE_KIND = MessageKind.REVIEW_STARTED
CREATE_CONSTANTS = {
    "review_name": "Quarterly review of Project Falcon",
    "resource_type": "group",
    "resource_name": "Project Falcon",
    "reviewer_description": "Check that every contractor still works on Falcon.",
    "due_at": "2026-12-14T17:00:00Z",
    "item_count": 34,
    "stage": 1,
    "stage_count": 2,
}
# One email per message: a kind that is never folded into a digest.
DELIVER_KIND = MessageKind.REVIEW_COMPLETED
assert DELIVER_KIND not in DIGESTIBLE_KINDS


def _progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _per_row_context(constants: dict, link_prefix: str) -> dict:
    """Constants plus two per-row expressions, as a caller of messages_create_many writes it."""
    return {
        **constants,
        "recipient_name": F("display_name"),
        "link": Concat(Value(link_prefix), Cast("id", CharField()), Value("/")),
    }


def _dedupe(prefix: str):
    return Concat(Value(prefix), Cast("id", CharField()))


def clear_messages() -> None:
    """Back to an empty table between calls: every call starts from the same state."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Message._meta.db_table}")
        if connection.in_atomic_block:
            return  # inside a test's transaction: no VACUUM, no checkpoint
        if connection.vendor == "postgresql":
            cursor.execute(f"VACUUM ANALYZE {Message._meta.db_table}")
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _comparable_rows() -> list[tuple]:
    """Every column both sides must write identically (uuid and instants differ by nature)."""
    return list(
        Message.objects.order_by("recipient_id").values_list(
            "recipient_id",
            "kind",
            "context",
            "dedupe_key",
            "email_status",
            "skip_reason",
            "attempts",
            "last_error",
            "email_message_id",
            "subject",
            "body_text",
            "body_html",
            "read_at",
            "lease_until",
            "sent_at",
        )
    )


# --- notifications.create_N -----------------------------------------------------------------


def create_benchmark(size: int = 10_000, *, repeat: int = 3, warmup: int = 1) -> Benchmark:
    state = {}
    dedupe_prefix = "bench:create:"
    link_prefix = "/reviews/panel/"

    def setup():
        _progress(f"seeding {size} recipients")
        users = create_users(size, prefix=f"create{size}")
        ids = users.values_list("id", flat=True)
        state["users"] = users
        state["range"] = (min(ids), max(ids))
        clear_messages()

    def run():
        with transaction.atomic():
            return messages_create_many(
                recipients=state["users"],
                kind=CREATE_KIND,
                context=_per_row_context(CREATE_CONSTANTS, link_prefix),
                dedupe_key=_dedupe(dedupe_prefix),
            )

    def baseline():
        json_object = "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"
        pairs = [f"'{key}', %s" for key in CREATE_CONSTANTS]
        pairs += ["'recipient_name', u.display_name", "'link', %s || CAST(u.id AS TEXT) || '/'"]
        now = timezone.now()
        sql = (
            f"INSERT INTO {Message._meta.db_table} (uuid, recipient_id, kind, context, dedupe_key,"
            " created_at, email_status, skip_reason, attempts, next_attempt_at, last_error,"
            " email_message_id, subject, body_text, body_html)"
            f" SELECT {uuid_sql()}, u.id, %s, {json_object}({', '.join(pairs)}),"
            " %s || CAST(u.id AS TEXT), %s, %s, '', 0, %s, '', '', '', '', ''"
            f" FROM {state['users'].model._meta.db_table} u WHERE u.id BETWEEN %s AND %s"
        )
        params = [
            CREATE_KIND,
            *CREATE_CONSTANTS.values(),
            link_prefix,
            dedupe_prefix,
            now,
            EmailStatus.PENDING,
            now,
            *state["range"],
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def check(side, created):
        if created != size:
            raise BenchmarkError(f"{side} wrote {created} messages, not {size}")
        rows = _comparable_rows()
        if len(rows) != size:
            raise BenchmarkError(f"{side} left {len(rows)} rows, not {size}")
        # Both sides must write the same values: compare with the other side's last rows.
        other = state.get(BASELINE if side == RUN else RUN)
        if other is not None and rows != other:
            first = next(i for i, (a, b) in enumerate(zip(rows, other, strict=True)) if a != b)
            raise BenchmarkError(
                f"{side} wrote other values than the other side: {rows[first]} vs {other[first]}"
            )
        state[side] = rows

    bench = Benchmark(
        name=f"notifications.create_{human_count(size)}",
        run=run,
        baseline=baseline,
        limit=3,
        setup=setup,
        reset=lambda side: clear_messages(),
        check=check,
        teardown=clear_messages,
        repeat=repeat,
        warmup=warmup,
        items=size,
    )
    bench.details.update(kind=CREATE_KIND)
    return bench


# --- notifications.deliver_N ----------------------------------------------------------------


class CountingHandler:
    """aiosmtpd handler: accepts every message and counts messages, recipients and bytes."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.messages = 0
        self.recipients = 0
        self.bytes = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages += 1
        self.recipients += len(envelope.rcpt_tos)
        self.bytes += len(envelope.original_content or envelope.content or b"")
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class SmtpSink:
    """A local SMTP server on a free port in this process, with Django's SMTP backend on it."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.handler = CountingHandler()
        self.controller = None
        self.settings = None

    def start(self):
        from aiosmtpd.controller import Controller

        port = free_port(self.host)
        self.controller = Controller(self.handler, hostname=self.host, port=port)
        self.controller.start()
        self.settings = override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST=self.host,
            EMAIL_PORT=port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
        )
        self.settings.enable()
        return self

    def stop(self):
        if self.settings is not None:
            self.settings.disable()
            self.settings = None
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def deliver_benchmark(
    size: int = 2_000, *, batch_size: int = BATCH_SIZE, repeat: int = 3, warmup: int = 0
) -> Benchmark:
    state = {}
    sink = SmtpSink()
    constants = {key: value for key, value in KINDS[DELIVER_KIND].sample.items() if key != "link"}
    dedupe_prefix = "bench:deliver:"

    def create_pending():
        clear_messages()
        with transaction.atomic():
            created = messages_create_many(
                recipients=state["users"],
                kind=DELIVER_KIND,
                context=_per_row_context(constants, "/reviews/instances/"),
                dedupe_key=_dedupe(dedupe_prefix),
            )
        if created != size:
            raise BenchmarkError(f"created {created} pending messages, not {size}")

    def setup():
        _progress(f"seeding {size} recipients and pre-rendering {size} emails")
        state["users"] = create_users(size, prefix=f"deliver{size}")
        sink.start()
        create_pending()
        # The baseline's emails: exactly what delivery sends, rendered once, here.
        emails = []
        for message in Message.objects.select_related("recipient").order_by("id"):
            rendered = render_message(message.kind, message.context, message.recipient)
            email = EmailMultiAlternatives(
                rendered.subject,
                rendered.text,
                settings.DEFAULT_FROM_EMAIL,
                [message.recipient.email],
                headers={"Message-ID": stable_message_id(message.dedupe_key)},
            )
            email.attach_alternative(rendered.html, "text/html")
            emails.append(email)
        state["emails"] = emails
        clear_messages()

    def reset(side):
        if side == RUN:
            create_pending()
        else:
            clear_messages()
        sink.handler.reset()

    def run():
        totals = {"rounds": 0, "emails": 0, "sent": 0, "skipped": 0, "retried": 0, "failed": 0}
        while True:
            outcome = deliver_due(batch_size=batch_size)
            handled = outcome.sent + outcome.skipped + outcome.retried + len(outcome.failed)
            if not handled:
                return totals
            totals["rounds"] += 1
            totals["emails"] += outcome.emails
            totals["sent"] += outcome.sent
            totals["skipped"] += outcome.skipped
            totals["retried"] += outcome.retried
            totals["failed"] += len(outcome.failed)

    def baseline():
        with get_connection(timeout=settings.EMAIL_TIMEOUT) as mail:
            return mail.send_messages(state["emails"])

    def check(side, outcome):
        received = sink.handler.messages
        if side == RUN:
            if outcome["emails"] != size or outcome["sent"] != size:
                raise BenchmarkError(f"delivery reported {outcome}, not {size} emails sent")
            sent = Message.objects.filter(email_status=EmailStatus.SENT).count()
            if sent != size:
                raise BenchmarkError(f"{sent} messages are marked sent, not {size}")
            state["rounds"] = outcome["rounds"]
        elif outcome != size:
            raise BenchmarkError(f"the backend reports {outcome} emails sent, not {size}")
        if received != size or sink.handler.recipients != size:
            raise BenchmarkError(
                f"{side}: the SMTP sink received {received} emails"
                f" ({sink.handler.recipients} recipients), not {size}"
            )
        state[f"{side}_bytes"] = sink.handler.bytes
        if RUN + "_bytes" in state and BASELINE + "_bytes" in state:
            run_bytes, base_bytes = state["run_bytes"], state["baseline_bytes"]
            if abs(run_bytes - base_bytes) > 0.02 * base_bytes:
                raise BenchmarkError(
                    f"the two sides sent different sizes: {run_bytes} vs {base_bytes} bytes"
                )
            bench.details.update(
                bytes_per_email=round(run_bytes / size), deliver_due_calls=state["rounds"]
            )

    def teardown():
        sink.stop()
        clear_messages()

    bench = Benchmark(
        name=f"notifications.deliver_{human_count(size)}",
        run=run,
        baseline=baseline,
        limit=3,
        setup=setup,
        reset=reset,
        check=check,
        teardown=teardown,
        repeat=repeat,
        warmup=warmup,
        items=size,
    )
    bench.details.update(kind=DELIVER_KIND, batch_size=batch_size)
    return bench


def benchmarks(
    *, create_size: int = 10_000, deliver_size: int = 2_000, repeat: int = 3
) -> list[Benchmark]:
    return [
        create_benchmark(create_size, repeat=repeat),
        deliver_benchmark(deliver_size, repeat=repeat),
    ]
